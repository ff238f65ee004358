import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import Redis from 'ioredis';
import { FeaturelogError, type FeaturelogLogger } from '@featurelog/domain';
import type { FeatureRow } from '@featurelog/avro';
import { RedisOnlineStore } from '@featurelog/online-store';
import { writeLayout1Checkpoint, writeLayout1Row } from '@featurelog/online-store/testing';
import { stackEnv, waitFor } from '@featurelog/testing';
import {
  baseDefinitions,
  foldTopic,
  openTestProject,
  startMaterializer,
  statsRowsAround,
  storedValues,
  waitForStoreToEqualFold,
  wholeCheckpointAtEnd,
  type TestProject,
} from './materializer.test-kit';

const now = Date.now() * 1_000;
const row = statsRowsAround(now);

/**
 * A Redis left by an older featurelog (layout 1: one hash field per feature, `<view>:__v`, no layout
 * mark) is detected by the materializer, wiped and rebuilt from the log, and never read meanwhile.
 * The store has a key prefix of its own: the rebuild wipes everything under its prefix.
 */
describe('Materializer over a store of the old layout', () => {
  let test: TestProject;
  let redis: Redis;
  let prefix: string;
  let store: RedisOnlineStore;
  const lines: string[] = [];
  const logger: FeaturelogLogger = {
    log: (line) => lines.push(line),
    warn: (line) => lines.push(line),
    error: (line) => lines.push(line),
  };

  before(async () => {
    test = await openTestProject('stack');
    await test.apply(baseDefinitions());
    redis = new Redis(stackEnv().redisUrl);
    prefix = `layout${randomBytes(4).toString('hex')}`;
  });

  after(async () => {
    await store?.close();
    if (redis !== undefined) {
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
    await test?.close();
  });

  it('rebuilds the store from the log, serving nothing of the old layout meanwhile', async () => {
    const rows: FeatureRow[] = [];
    for (let i = 0; i < 600; i++) rows.push(row(i % 100, (i * 7919) % 1_000, i));
    await test.produce('driver_stats', rows);
    const folded = await foldTopic(test, 'driver_stats');
    assert.equal(folded.size, 100);

    // The old layout's rows: one newer than anything in the log (it must not survive the rebuild: the
    // log is the truth, and it never had that row), the others as the old materializer left them;
    // and a whole checkpoint at the topic's end (trusted, it would make the new code consume nothing).
    const [someKey, ...otherKeys] = [...folded.keys()];
    await writeLayout1Row(redis, {
      prefix,
      project: test.project,
      entityKey: someKey!,
      view: 'driver_stats',
      version: { eventTimestamp: now + 10_000_000, createdTimestamp: null, position: { partition: 0, offset: 1 } },
      features: { conv_rate: 0.5, trips: -1, city: 'from the old layout' },
    });
    for (const key of otherKeys) {
      const { version, features } = folded.get(key)!;
      await writeLayout1Row(redis, {
        prefix,
        project: test.project,
        entityKey: key,
        view: 'driver_stats',
        version,
        features,
      });
    }
    await writeLayout1Checkpoint(redis, { prefix, ...(await wholeCheckpointAtEnd(test, 'driver_stats')) });

    store = await RedisOnlineStore.connect({ url: stackEnv().redisUrl, keyPrefix: prefix });
    // Serving's view of it until the materializer has marked the new layout: retriable, never values.
    await assert.rejects(
      store.readStored(test.project, [{ entityKey: someKey!, views: ['driver_stats'], features: [['trips']] }]),
      (error: unknown) =>
        error instanceof FeaturelogError && error.code === 'ONLINE_STORE_REBUILDING' && error.retriable,
    );

    const materializerStore = await RedisOnlineStore.connect({ url: stackEnv().redisUrl, keyPrefix: prefix });
    const running = await startMaterializer(test, {
      store: materializerStore,
      wipeCheckIntervalMs: 200,
      registryPollMs: 1_000,
      logger,
    });
    try {
      await waitForStoreToEqualFold(test, {
        store,
        description: 'the rebuilt store to equal the fold of the log',
        timeoutMs: 60_000,
        intervalMs: 200,
      });
      const found = lines.filter((line) => /not in layout 2/.test(line));
      assert.equal(found.length, 1, `one line about the layout, got: ${lines.join(' | ')}`);
      assert.match(found[0]!, /driver_stats:__v|layout 1/);
      assert.match(found[0]!, /rebuilding .* from the start of the log/);
      assert.equal(await redis.get(`${prefix}:__layout`), '2');
      assert.deepEqual(
        await redis.hkeys(`${prefix}:${test.project}:{${someKey}}`),
        ['driver_stats'],
        'no field of the old layout is left',
      );

      // Last-write-wins holds across the change: an older row than the rebuilt one loses, a newer wins.
      const driverId = Number(/\d+/.exec(someKey!)![0]);
      const winner = folded.get(someKey!)!;
      await test.produce('driver_stats', [row(driverId, winner.version.eventTimestamp - now - 1, 99_999)]);
      await waitFor(async () => (await running.materializer.lag()).every((partition) => partition.lag === 0), {
        description: 'the new rows to be consumed',
        timeoutMs: 30_000,
      });
      const after = await storedValues(store, test.project, 'driver_stats', [someKey!]);
      assert.deepEqual(after.get(someKey!), winner, 'an older row does not win after the rebuild');
      const newer = row(driverId, 5_000_000, 123);
      await test.produce('driver_stats', [newer]);
      await waitFor(
        async () =>
          (await storedValues(store, test.project, 'driver_stats', [someKey!])).get(someKey!)?.features.trips === 123,
        { description: 'a newer row to win', timeoutMs: 30_000 },
      );
    } finally {
      await running.stop();
      await materializerStore.close();
    }
  });
});
