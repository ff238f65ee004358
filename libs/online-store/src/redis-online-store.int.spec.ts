import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { FeaturelogError } from '@featurelog/domain';
import { RedisOnlineStore } from '@featurelog/online-store';
import { onlineStoreContract, writeLayout1Row } from '@featurelog/online-store/testing';
import Redis from 'ioredis';

const url = process.env.FEATURELOG_REDIS_URL ?? 'redis://127.0.0.1:6379';

onlineStoreContract('redis', () => RedisOnlineStore.connect({ url }));

describe('RedisOnlineStore', () => {
  let store: RedisOnlineStore;
  let redis: Redis;
  before(async () => {
    store = await RedisOnlineStore.connect({ url });
    redis = new Redis(url);
  });
  after(async () => {
    await store.close();
    await redis.quit();
  });

  const project = () => `p${randomBytes(5).toString('hex')}`;
  const at = (eventTimestamp: number, offset = 0) => ({
    eventTimestamp,
    createdTimestamp: null,
    position: { partition: 0, offset },
  });

  it('keeps one entity in one hash, one field per view holding its whole row', async () => {
    const p = project();
    await store.writeBatch({
      rows: [
        {
          project: p,
          entityKey: 'driver:7',
          view: 'stats',
          version: at(10, 3),
          features: { trips: 4, name: 'x', gone: null },
        },
        {
          project: p,
          entityKey: 'driver:7',
          view: 'geo',
          version: { ...at(11, 4), sourcePosition: '0042' },
          features: { lat: 1.5 },
        },
      ],
    });
    assert.deepEqual(await redis.keys(`fl:${p}:*`), [`fl:${p}:{driver:7}`]);
    const digits = (event: number, source: string, offset: number) =>
      `1${String(event).padStart(16, '0')}${'0'.repeat(17)}${source}${String(offset).padStart(16, '0')}${'0'.repeat(16)}`;
    // version digits, p (persistent), varint length + names, then varint length + text per value: see view-value.ts
    assert.deepEqual(await redis.hgetallBuffer(`fl:${p}:{driver:7}`), {
      stats: Buffer.concat([Buffer.from(`${digits(10, '00', 3)}p\x0ftrips,name,gone\x014\x02sx\x00`, 'latin1')]),
      geo: Buffer.from(`${digits(11, '040042', 4)}p\x03lat\x031.5`, 'latin1'),
    });
    assert.equal(await redis.get('fl:__layout'), '2', 'the store records its layout');
  });

  it('replaces a view whole when its schema changes, and removes the field of a deleted view', async () => {
    const p = project();
    const key = `fl:${p}:{e}`;
    const write = (offset: number, features: Record<string, number>) =>
      store.writeBatch({
        rows: [{ project: p, entityKey: 'e', view: 'v', version: at(offset + 1, offset), features }],
      });
    await write(0, { a: 1, b: 2, c: 3 });
    await write(1, { b: 5 });
    assert.deepEqual(await redis.hkeys(key), ['v']);
    assert.deepEqual(await store.read(p, [{ entityKey: 'e', views: ['v'], features: [['a', 'b']] }]), [
      [{ version: at(2, 1), features: { a: null, b: 5 } }],
    ]);
    await store.writeBatch({ rows: [{ project: p, entityKey: 'e', view: 'w', version: at(1), features: { x: 1 } }] });
    assert.equal(await store.deleteView(p, 'v'), 1);
    assert.deepEqual(await redis.hkeys(key), ['w']);
  });

  it('refuses to read or write a store of the old layout until it is rebuilt, then marks it', async () => {
    const prefix = `old${randomBytes(4).toString('hex')}`;
    const p = project();
    await writeLayout1Row(redis, {
      prefix,
      project: p,
      entityKey: 'e',
      view: 'v',
      version: at(5, 1),
      features: { f: 1 },
    });
    const old = await RedisOnlineStore.connect({ url, keyPrefix: prefix });
    try {
      const check = await old.checkLayout();
      assert.equal(check.current, false);
      assert.match((check as { found: string }).found, /v:__v.*layout 1/);
      const rebuilding = (error: unknown) =>
        error instanceof FeaturelogError && error.code === 'ONLINE_STORE_REBUILDING' && error.retriable;
      await assert.rejects(old.read(p, [{ entityKey: 'e', views: ['v'] }]), rebuilding);
      await assert.rejects(old.readStored(p, [{ entityKey: 'e', views: ['v'], features: [['f']] }]), rebuilding);
      await assert.rejects(
        old.writeBatch({ rows: [{ project: p, entityKey: 'e', view: 'v', version: at(6, 2), features: { f: 2 } }] }),
        rebuilding,
      );
      await old.writeBatch({ rows: [], checkpoint: { consumer: 'c', offsets: [] } });
      await old.rebuildLayout();
      assert.deepEqual(await redis.keys(`${prefix}:*`), [`${prefix}:__layout`], 'the old keys are gone');
      assert.deepEqual(await old.checkLayout(), { current: true });
      assert.deepEqual(await old.read(p, [{ entityKey: 'e', views: ['v'] }]), [[null]]);

      // A store marked with a layout this code does not know is not read either.
      await redis.set(`${prefix}:__layout`, '3');
      const newer = await RedisOnlineStore.connect({ url, keyPrefix: prefix });
      try {
        assert.match(((await newer.checkLayout()) as { found: string }).found, /says layout 3, not 2/);
        await assert.rejects(newer.read(p, [{ entityKey: 'e', views: ['v'] }]), rebuilding);
      } finally {
        await newer.close();
      }
    } finally {
      await old.close();
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length > 0) await redis.del(...keys);
    }
  });

  it('marks an empty store with its layout on first use', async () => {
    const prefix = `new${randomBytes(4).toString('hex')}`;
    const fresh = await RedisOnlineStore.connect({ url, keyPrefix: prefix });
    try {
      assert.deepEqual(await fresh.read(project(), [{ entityKey: 'e', views: ['v'] }]), [[null]]);
      assert.equal(await redis.get(`${prefix}:__layout`), '2');
    } finally {
      await fresh.close();
      await redis.del(`${prefix}:__layout`);
    }
  });

  /** Rows of one fresh project (feature f = the row's offset), the key of an entity, and now. */
  function expiryFixture() {
    const p = project();
    const nowMs = Date.now();
    return {
      p,
      nowMs,
      micros: nowMs * 1_000,
      key: (entity: string) => `fl:${p}:{${entity}}`,
      row: (entityKey: string, view: string, eventTimestamp: number, offset: number, ttlSeconds?: number) => ({
        project: p,
        entityKey,
        view,
        version: at(eventTimestamp, offset),
        features: { f: offset },
        ...(ttlSeconds === undefined ? {} : { ttlSeconds }),
      }),
    };
  }

  it('expires a key only when every view on it may be forgotten', async () => {
    const { key, nowMs, micros, row } = expiryFixture();
    await store.writeBatch({ rows: [row('a', 'short', micros, 0, 60), row('a', 'long', micros, 1, 600)] });
    assert.equal(await redis.pexpiretime(key('a')), nowMs + 600_000, 'the longest-lived view decides');
    await store.writeBatch({ rows: [row('a', 'short', micros + 1_000_000, 2, 60)] });
    assert.equal(await redis.pexpiretime(key('a')), nowMs + 600_000, 'a shorter expiry never shortens the key');
    await store.writeBatch({ rows: [row('a', 'long', micros - 1_000_000, 3, 6_000)] });
    assert.equal(await redis.pexpiretime(key('a')), nowMs + 600_000, 'a losing row changes no expiry');
    await store.writeBatch({ rows: [row('a', 'forever', micros, 4)] });
    assert.equal(await redis.pexpiretime(key('a')), -1, 'a view without TTL keeps the key');
    await store.writeBatch({ rows: [row('a', 'short', micros + 2_000_000, 5, 60)] });
    assert.equal(await redis.pexpiretime(key('a')), -1);
    await store.writeBatch({ rows: [row('b', 'forever', micros, 6), row('b', 'short', micros, 7, 60)] });
    assert.equal(
      await redis.pexpiretime(key('b')),
      -1,
      'a TTL row does not expire a key that holds a view without TTL',
    );
  });

  it('keeps the expiry rules when a view that is already on the key is updated', async () => {
    const { p, key, nowMs, micros, row } = expiryFixture();
    // A view with TTL replaced by a later row of itself: the key's expiry follows it, in later batches too.
    await store.writeBatch({ rows: [row('a', 'v', micros, 0, 60)] });
    assert.equal(await redis.pexpiretime(key('a')), nowMs + 60_000);
    await store.writeBatch({ rows: [row('a', 'v', micros + 5_000_000, 1, 60)] });
    assert.equal(await redis.pexpiretime(key('a')), nowMs + 65_000, 'a later row of the view moves the expiry later');
    await store.writeBatch({ rows: [row('a', 'v', micros + 6_000_000, 2, 30)] });
    assert.equal(await redis.pexpiretime(key('a')), nowMs + 65_000, 'a shorter TTL does not move it back');
    // A view without TTL that takes one: the key holds it as persistent, and stays so.
    await store.writeBatch({ rows: [row('b', 'v', micros, 3)] });
    await store.writeBatch({ rows: [row('b', 'v', micros + 1_000_000, 4, 60)] });
    assert.equal(await redis.pexpiretime(key('b')), -1, 'a persistent key stays persistent');
    // A view with TTL on a key another view made persistent since: it stays persistent.
    await store.writeBatch({ rows: [row('c', 'v', micros, 5, 60), row('c', 'w', micros, 6)] });
    await store.writeBatch({ rows: [row('c', 'v', micros + 100_000_000, 7, 60)] });
    assert.equal(await redis.pexpiretime(key('c')), -1);
    // And back: a row without TTL makes the key persistent.
    await store.writeBatch({ rows: [row('a', 'v', micros + 7_000_000, 8)] });
    assert.equal(await redis.pexpiretime(key('a')), -1);
    assert.deepEqual((await store.read(p, [{ entityKey: 'a', views: ['v'] }]))[0]?.[0]?.features, { f: 8 });
  });

  it('writes a view wider than one Lua unpack can carry', async () => {
    const p = project();
    const features = Object.fromEntries(Array.from({ length: 4_000 }, (_, i) => [`f${i}`, i]));
    await store.writeBatch({ rows: [{ project: p, entityKey: 'e', view: 'wide', version: at(1), features }] });
    assert.deepEqual((await store.read(p, [{ entityKey: 'e', views: ['wide'] }]))[0]?.[0]?.features, features);
    const names = Object.keys(features).reverse();
    // Two entities of one selection: a value far wider than a Lua unpack, read whole.
    const selected = await store.read(p, [
      { entityKey: 'e', views: ['wide'], features: [names] },
      { entityKey: 'absent', views: ['wide'], features: [names] },
    ]);
    assert.deepEqual(Object.keys(selected[0]?.[0]?.features ?? {}), names);
    assert.deepEqual(selected, [[{ version: at(1), features }], [null]]);
  });

  it('reloads the write script after the script cache is flushed', async () => {
    const p = project();
    await redis.script('FLUSH');
    assert.equal(
      await store.writeBatch({ rows: [{ project: p, entityKey: 'e', view: 'v', version: at(1), features: { f: 1 } }] }),
      1,
    );
    assert.equal((await store.read(p, [{ entityKey: 'e', views: ['v'] }]))[0]?.[0]?.features.f, 1);
  });

  it('answers reads issued together (one pipeline) each with its own values', async () => {
    const p = project();
    const rows = Array.from({ length: 40 }, (_, i) => ({
      project: p,
      entityKey: `e${i}`,
      view: i % 2 === 0 ? 'even' : 'odd',
      version: at(i + 1, i),
      features: { n: i, s: `row ${i}` },
    }));
    await store.writeBatch({ rows });
    const evenSelection = [['n'], ['s']];
    const oddSelection = [['s', 'n'], []];
    const results = await Promise.all(
      rows.map((row, i) =>
        store.read(p, [
          { entityKey: row.entityKey, views: ['even', 'odd'], features: i % 2 === 0 ? evenSelection : oddSelection },
          { entityKey: row.entityKey, views: [row.view] },
        ]),
      ),
    );
    results.forEach((result, i) => {
      const version = at(i + 1, i);
      const selected = i % 2 === 0 ? [{ version, features: { n: i } }, null] : [null, { version, features: {} }];
      assert.deepEqual(result, [selected, [{ version, features: { n: i, s: `row ${i}` } }]], `read ${i}`);
    });
  });

  it('reads many entities of several selections in one call, each with its own values', async () => {
    const p = project();
    await store.writeBatch({ rows: [{ project: p, entityKey: 'e', view: 'v', version: at(1), features: { f: 1 } }] });
    const views = ['v', 'w'];
    const read = await store.read(p, [
      { entityKey: 'e', views, features: [['f'], ['x']] },
      ...['none1', 'none2', 'none3'].map((entityKey) => ({ entityKey, views, features: [['f'], ['x']] })),
      { entityKey: 'e', views: ['v'] },
      { entityKey: 'e', views: [] },
    ]);
    assert.deepEqual(read, [
      [{ version: at(1), features: { f: 1 } }, null],
      [null, null],
      [null, null],
      [null, null],
      [{ version: at(1), features: { f: 1 } }],
      [],
    ]);
  });

  it('fails with a retriable ONLINE_STORE_UNAVAILABLE when redis is unreachable', async () => {
    await assert.rejects(
      RedisOnlineStore.connect({ url: 'redis://127.0.0.1:1', connectTimeoutMs: 500 }),
      (error: unknown) =>
        error instanceof FeaturelogError && error.code === 'ONLINE_STORE_UNAVAILABLE' && error.retriable,
    );
  });

  it('fails with a retriable ONLINE_STORE_UNAVAILABLE when redis does not answer in time', async () => {
    const impatient = await RedisOnlineStore.connect({ url, commandTimeoutMs: 50 });
    try {
      await redis.client('PAUSE', 400, 'ALL');
      await assert.rejects(
        impatient.read(project(), [{ entityKey: 'e', views: ['v'] }]),
        (error: unknown) =>
          error instanceof FeaturelogError && error.code === 'ONLINE_STORE_UNAVAILABLE' && error.retriable,
      );
    } finally {
      await redis.client('UNPAUSE');
      await impatient.close();
    }
  });

  it('refuses a malformed url, and work after close', async () => {
    await assert.rejects(RedisOnlineStore.connect({ url: 'localhost:6379' }), { code: 'INVALID_CONFIG' });
    const closing = await RedisOnlineStore.connect({ url });
    await closing.close();
    await assert.rejects(closing.ping(), { code: 'ONLINE_STORE_CLOSED' });
  });
});
