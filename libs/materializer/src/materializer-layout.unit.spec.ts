import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FeatureRow } from '@featurelog/avro';
import { writeEmbeddedLayout1 } from '@featurelog/online-store/testing';
import {
  baseDefinitions,
  foldTopic,
  openTestProject,
  startMaterializer,
  statsRowsAround,
  waitForStoreToEqualFold,
  wholeCheckpointAtEnd,
  type TestProject,
} from './materializer.test-kit';

const now = Date.now() * 1_000;
const row = statsRowsAround(now);

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

    // Layout 1, laid out before the store is opened: a row newer than anything in the log, and a whole
    // checkpoint at the end of the topic.
    await writeEmbeddedLayout1(join(test.repoDir, '.featurelog', 'online'), {
      rows: [
        {
          project: test.project,
          entityKey: someKey!,
          view: 'driver_stats',
          version: { eventTimestamp: now + 10_000_000, createdTimestamp: null, position: { partition: 0, offset: 1 } },
          features: { conv_rate: 0.5, trips: -1, city: 'old layout' },
        },
      ],
      checkpoint: await wholeCheckpointAtEnd(test, 'driver_stats'),
    });

    const store = await test.store();
    await assert.rejects(store.read(test.project, [{ entityKey: someKey!, views: ['driver_stats'] }]), {
      code: 'ONLINE_STORE_REBUILDING',
    });
    const running = await startMaterializer(test, {
      registryGroup: `${test.project}.mat-registry`,
      wipeCheckIntervalMs: 50,
      registryPollMs: 200,
    });
    try {
      await waitForStoreToEqualFold(test, {
        description: 'the rebuilt store to equal the fold of the log',
        timeoutMs: 30_000,
        intervalMs: 50,
      });
      assert.match(
        await running.registry.metrics(),
        /featurelog_materializer_rebuilds_total\{reason="layout-changed"\} 1/,
      );
    } finally {
      await running.stop();
    }
  });
});
