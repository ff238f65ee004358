import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { type FeaturelogError, type RowVersion } from '@featurelog/domain';
import { RedisOnlineStore, storedText, type OnlineRow, type OnlineStore } from '@featurelog/online-store';
import {
  clusterNodes,
  keySlot,
  killNode,
  masterOfKey,
  onlineStoreContract,
  redisClusterUnderTest,
  waitForClusterHealthy,
} from '@featurelog/online-store/testing';
import { stackSecureEnv, waitFor } from '@featurelog/testing';
import Redis from 'ioredis';

const cluster = redisClusterUnderTest();
const connect = (options: Partial<Parameters<typeof RedisOnlineStore.connect>[0]> = {}) =>
  RedisOnlineStore.connect({ url: cluster.url!, cluster: true, ...options });

if (cluster.url !== undefined) {
  onlineStoreContract('redis cluster', () => connect());
} else {
  describe('OnlineStore contract: redis cluster', () =>
    it('runs on a Redis Cluster', { skip: cluster.skip }, () => {}));
}

const version = (eventTimestamp: number, offset: number): RowVersion => ({
  eventTimestamp,
  createdTimestamp: null,
  position: { partition: 0, offset },
});

function rows(project: string, entities: number, at: number): OnlineRow[] {
  return Array.from({ length: entities }, (_, i) => ({
    project,
    entityKey: `driver:${i}`,
    view: 'stats',
    version: version(at, at * 1_000 + i),
    features: { trips: at * 1_000 + i, name: `n${i}` },
  }));
}

async function readAll(store: OnlineStore, project: string, entities: number) {
  return store.read(
    project,
    Array.from({ length: entities }, (_, i) => ({ entityKey: `driver:${i}`, views: ['stats'] })),
  );
}

describe('RedisOnlineStore on a Redis Cluster', { skip: cluster.skip }, () => {
  let store: RedisOnlineStore;
  const keyPrefix = `flc${randomBytes(4).toString('hex')}`;
  before(async () => {
    store = await connect({ keyPrefix });
  });
  after(async () => {
    await store?.close();
  });

  it('spreads a batch over every master, one script call per master, and reads it back in request order', async () => {
    const project = `p${randomBytes(4).toString('hex')}`;
    assert.equal(await store.writeBatch({ rows: rows(project, 300, 1) }), 300);
    const read = await readAll(store, project, 300);
    read.forEach((views, i) => assert.deepEqual(views[0]?.features, { trips: 1_000 + i, name: `n${i}` }));
    // Selected features go through the read script, one call per master too.
    const selected = await store.readStored(
      project,
      Array.from({ length: 300 }, (_, i) => ({ entityKey: `driver:${i}`, views: ['stats'], features: [['trips']] })),
    );
    selected.forEach((views, i) => assert.equal(storedText(views[0]!, 0), String(1_000 + i)));
    const nodes = (await clusterNodes(cluster.url!)).filter((node) => node.master && !node.failing);
    const masters = new Set<number>();
    for (let i = 0; i < 300; i++) {
      const slot = keySlot(`${keyPrefix}:${project}:{driver:${i}}`);
      masters.add(nodes.find((node) => node.slots.some(([from, to]) => slot >= from && slot <= to))!.port);
    }
    assert.equal(masters.size, 3, 'the entities live on all three masters');
    assert.equal(await store.deleteView(project, 'stats'), 300, 'deleteView scans every master');
  });

  const secure = stackSecureEnv();
  it(
    "authenticates as the stack's ACL user on every node, and names the settings when the password is wrong",
    { skip: secure === undefined && 'the stack wrote no credentials (secure/credentials.json)' },
    async () => {
      const { redisUsername, redisPassword } = secure!;
      const authenticated = await connect({ username: redisUsername, password: redisPassword });
      try {
        const project = `p${randomBytes(4).toString('hex')}`;
        assert.equal(await authenticated.writeBatch({ rows: rows(project, 30, 1) }), 30);
        assert.equal((await readAll(authenticated, project, 30)).filter(([value]) => value !== null).length, 30);
      } finally {
        await authenticated.close();
      }
      await assert.rejects(connect({ username: redisUsername, password: 'not-the-password' }), {
        code: 'REDIS_AUTH_FAILED',
        message: /onlineStore\.password/,
      });
    },
  );

  it('a batch whose checkpoint write fails leaves its rows written and the checkpoint where it was; the replay changes nothing', async () => {
    const project = `p${randomBytes(4).toString('hex')}`;
    const consumer = `c${randomBytes(4).toString('hex')}`;
    const checkpoint = (nextOffset: number) => ({ consumer, offsets: [{ topic: 't', partition: 0, nextOffset }] });
    await store.writeBatch({ rows: rows(project, 50, 1), checkpoint: checkpoint(50) });
    // A user that may write the rows but only read the checkpoint, on every node (ACLs are per node):
    // the checkpoint's own script call then fails after the rows' calls succeeded.
    const user = `ck${randomBytes(4).toString('hex')}`;
    const nodes = (await clusterNodes(cluster.url!)).filter((node) => !node.failing);
    const acl = async (args: string[]) => {
      for (const node of nodes) {
        const redis = new Redis({ host: node.host, port: node.port, maxRetriesPerRequest: 1 });
        try {
          await redis.call('acl', args);
        } finally {
          redis.disconnect();
        }
      }
    };
    await acl([
      'setuser',
      user,
      'on',
      '>pw-of-the-test',
      '+@all',
      `~${keyPrefix}:${project}:*`,
      `%R~${keyPrefix}:__checkpoint:*`,
      // Reads the layout mark the store checks before its first write.
      `%R~${keyPrefix}:__layout`,
    ]);
    const limited = await connect({ keyPrefix, username: user, password: 'pw-of-the-test' });
    try {
      const batch = { rows: rows(project, 50, 2), checkpoint: checkpoint(100) };
      await assert.rejects(limited.writeBatch(batch), (error: FeaturelogError) =>
        /NOPERM|permission/i.test(error.message),
      );
      const afterFailure = await readAll(store, project, 50);
      afterFailure.forEach((views, i) => assert.equal(views[0]?.features.trips, 2_000 + i, 'every row was written'));
      assert.deepEqual(await store.readCheckpoint(consumer), checkpoint(50).offsets, 'the checkpoint did not move');
      // The replay (what a restarted materializer does from the old checkpoint): no row wins again.
      assert.equal(await store.writeBatch(batch), 0);
      assert.deepEqual(await readAll(store, project, 50), afterFailure);
      assert.deepEqual(await store.readCheckpoint(consumer), checkpoint(100).offsets);
    } finally {
      await limited.close();
      await acl(['deluser', user]);
    }
  });

  it('a master killed: its slots fail as retriable, the others keep answering; after the failover all answer', async () => {
    const project = `p${randomBytes(4).toString('hex')}`;
    const entities = 200;
    await store.writeBatch({ rows: rows(project, entities, 1) });
    const keyOf = (i: number) => `${keyPrefix}:${project}:{driver:${i}}`;
    const victim = await masterOfKey(cluster.url!, keyOf(0));
    const onVictim = (i: number) => {
      const slot = keySlot(keyOf(i));
      return victim.slots.some(([from, to]) => slot >= from && slot <= to);
    };
    const elsewhere = Array.from({ length: entities }, (_, i) => i).filter((i) => !onVictim(i));
    const onIt = Array.from({ length: entities }, (_, i) => i).filter(onVictim);
    assert.ok(elsewhere.length > 0 && onIt.length > 0);
    const readSome = (indexes: number[]) =>
      store.read(
        project,
        indexes.map((i) => ({ entityKey: `driver:${i}`, views: ['stats'], features: [['trips']] })),
      );

    await killNode(victim);
    const killedAt = Date.now();
    // Before the replica takes over: the victim's slots fail as retriable, the others answer.
    await assert.rejects(readSome(onIt.slice(0, 5)), (error: FeaturelogError) => {
      assert.equal(error.code, 'ONLINE_STORE_UNAVAILABLE');
      assert.equal(error.retriable, true);
      return true;
    });
    const others = await readSome(elsewhere);
    others.forEach((views, k) => assert.equal(views[0]?.features.trips, 1_000 + elsewhere[k]!));
    const all = Array.from({ length: entities }, (_, i) => i);
    await waitFor(() => readSome(all), {
      description: 'every slot to answer again',
      timeoutMs: 30_000,
      intervalMs: 200,
    });
    const readsBack = Date.now() - killedAt;
    // Writes to its slots are retried until the promoted master has a replica to acknowledge them
    // (the killed node, started again): nothing acknowledged can be lost to the next failover.
    const rewritten = rows(project, entities, 2);
    await waitFor(async () => (await store.writeBatch({ rows: rewritten })) >= 0, {
      description: 'a write of every slot to succeed after the failover',
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    const writesBack = Date.now() - killedAt;
    (await readSome(all)).forEach((views, i) => assert.equal(views[0]?.features.trips, 2_000 + i));
    const promoted = await masterOfKey(cluster.url!, keyOf(0));
    assert.notEqual(promoted.port, victim.port, 'the replica was promoted');
    if (process.env.FEATURELOG_TEST_VERBOSE) {
      process.stderr.write(
        `failover: reads of every slot back ${readsBack} ms after the kill, writes ${writesBack} ms\n`,
      );
    }
    await waitForClusterHealthy(cluster.url!);
  });
  it('every node down: reads and writes fail as retriable within the command timeout, and work again once the nodes are back', async () => {
    const project = `down${randomBytes(3).toString('hex')}`;
    const commandTimeoutMs = 1_000;
    const bounded = await connect({ keyPrefix, commandTimeoutMs });
    try {
      await bounded.writeBatch({ rows: rows(project, 20, 1) });
      const nodes = await clusterNodes(cluster.url!);
      await Promise.all(nodes.map((node) => killNode(node)));
      const unavailable = (error: FeaturelogError) => {
        assert.equal(error.code, 'ONLINE_STORE_UNAVAILABLE');
        assert.equal(error.retriable, true);
        return true;
      };
      // The supervisor starts killed nodes again only after seconds (CLUSTER_RESTART_DELAY_MS): an
      // answer before then is the store's own deadline, not the cluster coming back.
      const started = Date.now();
      await assert.rejects(readAll(bounded, project, 20), unavailable);
      await assert.rejects(bounded.writeBatch({ rows: rows(project, 20, 2) }), unavailable);
      assert.ok(Date.now() - started < 4 * commandTimeoutMs, `failed after ${Date.now() - started} ms`);
      await waitForClusterHealthy(cluster.url!);
      const back = await waitFor(() => readAll(bounded, project, 20), {
        description: 'reads to answer once every node is back',
        timeoutMs: 30_000,
        intervalMs: 200,
      });
      back.forEach((views, i) => assert.equal(views[0]?.features.trips, 1_000 + i));
    } finally {
      await bounded.close();
    }
  });
});
