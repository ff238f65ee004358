import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ClassicLevel } from 'classic-level';
import { Registry } from 'prom-client';
import { SILENT_LOGGER } from '@featurelog/domain';
import type { FeatureRow } from '@featurelog/avro';
import { waitFor } from '@featurelog/testing';
import { Materializer } from './materializer';
import { MaterializerMetrics } from './materializer-metrics';
import { baseDefinitions, foldTopic, openTestProject, storedValues, type TestProject } from './materializer.test-kit';

const now = Date.now() * 1_000;

function row(driverId: number, offsetMicros: number, trips: number): FeatureRow {
  return {
    driver_id: driverId,
    event_timestamp: now + offsetMicros,
    created_timestamp: null,
    conv_rate: trips / 100,
    trips,
    city: `city-${trips}`,
  };
}

/** The embedded store left by an older featurelog (JSON rows, no layout mark) is rebuilt from the log. */
describe('Materializer over an embedded store of the old layout', () => {
  let test: TestProject;
  before(async () => {
    test = await openTestProject('embedded');
    await test.apply(baseDefinitions());
  });
  after(async () => test.close());

  it('wipes it and rebuilds it from the start of the log', async () => {
    const rows: FeatureRow[] = [];
    for (let i = 0; i < 200; i++) rows.push(row(i % 20, (i * 7919) % 1_000, i));
    await test.produce('driver_stats', rows);
    const folded = await foldTopic(test, 'driver_stats');
    const [someKey] = [...folded.keys()];

    // Layout 1, laid out before the store is opened: `[eventTs, createdTs, partition, offset, { feature: text }]`,
    // a row newer than anything in the log, and a whole checkpoint at the end of the topic.
    const raw = new ClassicLevel<string, string>(join(test.repoDir, '.featurelog', 'online'), {
      keyEncoding: 'utf8',
      valueEncoding: 'utf8',
    });
    await raw.put(
      `r\0${test.project}\0driver_stats\0${someKey}`,
      JSON.stringify([now + 10_000_000, null, 0, 1, { conv_rate: '0.5', trips: '-1', city: 'sold layout' }]),
    );
    const checkpoint = `${test.project}.materializer`;
    await raw.put(`c\0${checkpoint}\0__featurelog.materializer.complete\x000`, '1');
    for (const [partition, end] of await test.runtime.log.endOffsets(test.topic('driver_stats'))) {
      await raw.put(`c\0${checkpoint}\0${test.topic('driver_stats')}\0${partition}`, String(end));
    }
    await raw.close();

    const store = await test.store();
    await assert.rejects(store.read(test.project, [{ entityKey: someKey!, views: ['driver_stats'] }]), {
      code: 'ONLINE_STORE_REBUILDING',
    });
    const { follower } = test.runtime.registry();
    await follower.start(`${test.project}.mat-registry`);
    const registry = new Registry();
    const materializer = new Materializer({
      project: test.project,
      log: test.runtime.log,
      schemas: test.runtime.schemas,
      store,
      follower,
      metrics: new MaterializerMetrics(registry),
      wipeCheckIntervalMs: 50,
      registryPollMs: 200,
      logger: SILENT_LOGGER,
    });
    await materializer.start();
    try {
      await waitFor(
        async () => {
          assert.deepEqual(await storedValues(store, test.project, 'driver_stats', folded.keys()), folded);
          return true;
        },
        { description: 'the rebuilt store to equal the fold of the log', timeoutMs: 30_000, intervalMs: 50 },
      );
      assert.match(await registry.metrics(), /featurelog_materializer_rebuilds_total\{reason="layout-changed"\} 1/);
    } finally {
      await materializer.stop();
      await follower.stop();
    }
  });
});
