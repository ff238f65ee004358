import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PUSH_TO_HEADER, topicNames, type FeatureValue } from '@featurelog/domain';
import { LocalSchemaRegistry } from '@featurelog/avro';
import { FileEventLog } from '@featurelog/log';
import { HyparquetSegmentCodec, initialSegmentCatalog, segmentSchemaFor } from '@featurelog/offline-store';
import { openViewHistory, ViewHistoryColumns, type HistorySources } from '@featurelog/jobs';
import { appendFeatureRows, DRIVER_STATS, entitiesOf, provisionTestProject } from './jobs.test-kit';

const PROJECT = 'history';
const T0 = Date.UTC(2025, 0, 1) * 1000;

describe('view history from the log tail and the push destination', () => {
  let dir: string;
  let log: FileEventLog;
  let sources: HistorySources;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'featurelog-view-history-'));
    log = await FileEventLog.open({ directory: join(dir, 'log'), fsync: 'never' });
    const schemas = await LocalSchemaRegistry.open({ directory: join(dir, 'schemas') });
    sources = { log, schemas, codec: new HyparquetSegmentCodec(), offlineRoot: join(dir, 'offline'), project: PROJECT };
    const target = (await provisionTestProject(log, schemas, PROJECT)).get('driver_stats')!;
    const row = (trips: number): Record<string, FeatureValue> => ({
      driver_id: trips % 4,
      event_timestamp: T0 + trips,
      created_timestamp: null,
      conv_rate: 0.5,
      trips,
      note: null,
    });
    await appendFeatureRows(log, target, [row(1), row(2)]);
    await appendFeatureRows(log, target, [row(3)], { [PUSH_TO_HEADER]: 'online' });
    await appendFeatureRows(log, target, [row(4), row(5)], { [PUSH_TO_HEADER]: 'offline' });
    await appendFeatureRows(log, target, [row(6)], { [PUSH_TO_HEADER]: 'online_and_offline' });
  });

  after(async () => {
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** driver_stats read from the log alone: no segments yet, up to the log's end now. */
  async function logOnlyView() {
    const entities = entitiesOf(DRIVER_STATS);
    const topic = topicNames.features(PROJECT, DRIVER_STATS);
    return {
      view: DRIVER_STATS,
      entities,
      joinKeys: segmentSchemaFor(DRIVER_STATS, entities).joinKeys,
      topic,
      catalog: initialSegmentCatalog(),
      watermark: await log.endOffsets(topic),
    };
  }

  async function tripsFor(forStore?: 'offline' | 'online'): Promise<number[]> {
    const history = await openViewHistory(sources, {
      ...(await logOnlyView()),
      source: 'log',
      ...(forStore === undefined ? {} : { forStore }),
    });
    const trips: number[] = [];
    try {
      for await (const rows of history.rows) for (const row of rows) trips.push(row.features.trips as number);
    } finally {
      await history.close();
    }
    return trips.sort((a, b) => a - b);
  }

  it('leaves out rows pushed to=online for the offline store (exports), as the compactor does', async () => {
    assert.deepEqual(await tripsFor(), [1, 2, 4, 5, 6]);
    assert.deepEqual(await tripsFor('offline'), [1, 2, 4, 5, 6]);
  });

  it('leaves out rows pushed to=offline for the online store (backfills)', async () => {
    assert.deepEqual(await tripsFor('online'), [1, 2, 3, 6]);
  });

  it('reads the log tail as sorted columns (exports) with the same rule', async () => {
    const history = await ViewHistoryColumns.open(sources, {
      ...(await logOnlyView()),
      features: ['trips'],
      keyForm: 'number',
      tailRowsInMemory: 2,
    });
    const trips: number[] = [];
    for await (const source of history.tailSources()) {
      for await (const chunk of source.chunks) {
        for (let j = 0; j < chunk.length; j++) trips.push(chunk.features[0]![j] as number);
        for (let j = 1; j < chunk.length; j++)
          assert.ok(chunk.keys[j - 1]! <= chunk.keys[j]!, `${source.label} sorted`);
      }
    }
    assert.deepEqual(
      trips.sort((a, b) => a - b),
      [1, 2, 4, 5, 6],
    );
    assert.equal(history.tailRows, 5);
  });
});
