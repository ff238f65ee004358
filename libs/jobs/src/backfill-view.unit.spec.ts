import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeEntityKey, FeaturelogError, type FeatureValue } from '@featurelog/domain';
import { LocalSchemaRegistry } from '@featurelog/avro';
import { FileEventLog } from '@featurelog/log';
import { LevelOnlineStore, type OnlineRow } from '@featurelog/online-store';
import { HyparquetSegmentCodec } from '@featurelog/offline-store';
import { backfillView, type HistorySources } from '@featurelog/jobs';
import {
  appendFeatureRows,
  compactPrefix,
  DRIVER,
  DRIVER_STATS,
  provisionTestProject,
  readLoggedRows,
  TEST_DEFINITIONS,
  type LoggedRow,
} from './jobs.test-kit';

const PROJECT = 'fill';
const HOUR = 3600 * 1_000_000;
const T0 = Date.UTC(2025, 0, 1) * 1000;
const DRIVERS = [1, 2, 3, 4, 5, 6, 7, 8];

describe('backfillView (embedded log, segments + tail, classic-level online store)', () => {
  let dir: string;
  let log: FileEventLog;
  let schemas: LocalSchemaRegistry;
  let sources: HistorySources;
  let logged: LoggedRow[];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'featurelog-backfill-'));
    log = await FileEventLog.open({ directory: join(dir, 'log'), fsync: 'never' });
    schemas = await LocalSchemaRegistry.open({ directory: join(dir, 'schemas') });
    const codec = new HyparquetSegmentCodec();
    sources = { log, schemas, codec, offlineRoot: join(dir, 'offline'), project: PROJECT };
    const views = await provisionTestProject(log, schemas, PROJECT);
    const target = views.get('driver_stats')!;
    const rows: Record<string, FeatureValue>[] = [];
    for (let i = 0; i < 400; i++) {
      rows.push({
        driver_id: DRIVERS[i % DRIVERS.length]!,
        event_timestamp: T0 + ((i * 7) % 48) * HOUR,
        created_timestamp: i % 3 === 0 ? null : T0 + (i % 5) * HOUR,
        conv_rate: i / 400,
        trips: i,
        note: `row ${i}`,
      });
    }
    await appendFeatureRows(log, target, rows.slice(0, 250));
    const ends = await log.endOffsets(target.topic);
    await compactPrefix(log, schemas, codec, sources.offlineRoot, PROJECT, DRIVER_STATS, ends);
    await appendFeatureRows(log, target, rows.slice(250));
    logged = await readLoggedRows(log, schemas, PROJECT, DRIVER_STATS);
  });

  after(async () => {
    await log.close();
    await schemas.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The last-write-wins winner per driver among rows with event time in [from, to], by brute force. */
  function latest(from = -Infinity, to = Infinity): Map<number, LoggedRow> {
    const out = new Map<number, LoggedRow>();
    for (const row of logged) {
      const et = row.values.event_timestamp as number;
      if (et < from || et > to) continue;
      const driver = row.values.driver_id as number;
      const best = out.get(driver);
      if (best === undefined || beats(row, best)) out.set(driver, row);
    }
    return out;
  }

  /** Last-write-wins: greater event time, then created time (null lowest), then offset, then partition. */
  function beats(a: LoggedRow, b: LoggedRow): boolean {
    const version = (r: LoggedRow) => [
      r.values.event_timestamp as number,
      (r.values.created_timestamp as number | null) ?? -Infinity,
      r.offset,
      r.partition,
    ];
    const [x, y] = [version(a), version(b)];
    const i = x.findIndex((value, k) => value !== y[k]);
    return i >= 0 && x[i]! > y[i]!;
  }

  async function storeTrips(store: LevelOnlineStore): Promise<Map<number, FeatureValue>> {
    const values = await store.read(
      PROJECT,
      DRIVERS.map((driver) => ({
        entityKey: encodeEntityKey(DRIVER.joinKeys, { driver_id: driver }),
        views: ['driver_stats'],
      })),
    );
    return new Map(DRIVERS.map((driver, i) => [driver, values[i]![0]?.features.trips ?? null]));
  }

  for (const source of ['segments', 'log'] as const) {
    it(`writes each entity's latest row from ${source} (with a time range), reporting progress`, async () => {
      const store = await LevelOnlineStore.open({ path: join(dir, `store-${source}`) });
      try {
        const phases = new Set<string>();
        const to = T0 + 30 * HOUR;
        const result = await backfillView(
          sources,
          TEST_DEFINITIONS,
          store,
          { view: 'driver_stats', source, to },
          { batchSize: 17, tailRowsInMemory: 13, onProgress: ({ phase }) => phases.add(phase) },
        );
        assert.equal(result.rowsRead, logged.filter((row) => (row.values.event_timestamp as number) <= to).length);
        assert.ok([...phases].some((phase) => phase.startsWith('writing driver_stats')));
        const want = latest(-Infinity, to);
        assert.deepEqual(
          await storeTrips(store),
          new Map(DRIVERS.map((driver) => [driver, want.get(driver)?.values.trips ?? null])),
        );
      } finally {
        await store.close();
      }
    });
  }

  it('never overwrites newer rows written by live ingestion, before or while it runs', async () => {
    const store = await LevelOnlineStore.open({ path: join(dir, 'store-live') });
    try {
      const live = (driver: number, hours: number, trips: number): OnlineRow => ({
        project: PROJECT,
        entityKey: encodeEntityKey(DRIVER.joinKeys, { driver_id: driver }),
        view: 'driver_stats',
        version: { eventTimestamp: T0 + hours * HOUR, createdTimestamp: null, position: { partition: 0, offset: 1e9 } },
        features: { conv_rate: null, trips, note: 'live' },
      });
      await store.writeBatch({ rows: [live(1, 100, -1)] });
      let wroteWhileRunning = false;
      let liveWrite: Promise<number> | undefined;
      const result = await backfillView(
        sources,
        TEST_DEFINITIONS,
        store,
        { view: 'driver_stats' },
        {
          batchSize: 5,
          onProgress: ({ phase, done }) => {
            if (!wroteWhileRunning && phase.startsWith('writing') && done > 0) {
              wroteWhileRunning = true;
              liveWrite = store.writeBatch({ rows: [live(2, 100, -2)] });
            }
          },
        },
      );
      assert.ok(wroteWhileRunning);
      assert.equal(await liveWrite, 1, 'the live row won when it was written');
      assert.ok(result.rowsWon < result.rowsRead, 'replayed rows that lost were not applied');
      const trips = await storeTrips(store);
      const want = latest();
      assert.equal(trips.get(1), -1);
      assert.equal(trips.get(2), -2);
      for (const driver of DRIVERS.slice(2)) assert.equal(trips.get(driver), want.get(driver)!.values.trips);
    } finally {
      await store.close();
    }
  });

  it('refuses an unknown view, a reversed range and an unknown source', async () => {
    const store = await LevelOnlineStore.open({ path: join(dir, 'store-bad') });
    try {
      const fails = (code: string) => (error: unknown) => error instanceof FeaturelogError && error.code === code;
      await assert.rejects(
        backfillView(sources, TEST_DEFINITIONS, store, { view: 'nope' }),
        fails('UNKNOWN_FEATURE_VIEW'),
      );
      await assert.rejects(
        backfillView(sources, TEST_DEFINITIONS, store, { view: 'driver_stats', from: 2, to: 1 }),
        fails('BACKFILL_RANGE_INVALID'),
      );
      await assert.rejects(
        backfillView(sources, TEST_DEFINITIONS, store, { view: 'driver_stats', source: 'x' as 'log' }),
        fails('BACKFILL_SOURCE_INVALID'),
      );
    } finally {
      await store.close();
    }
  });
});
