import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parquetReadObjects } from 'hyparquet';
import { parquetWriteBuffer } from 'hyparquet-writer';
import type { FeatureValue, FeatureViewDefinition } from '@featurelog/domain';
import { LocalSchemaRegistry } from '@featurelog/avro';
import { FileEventLog } from '@featurelog/log';
import { HyparquetSegmentCodec } from '@featurelog/offline-store';
import { exportTrainingSet, type ExportRequest, type HistorySources } from '@featurelog/jobs';
import {
  appendFeatureRows,
  compactPrefix,
  CUSTOMER_PROFILE,
  DRIVER_DAILY,
  DRIVER_STATS,
  provisionTestProject,
  readLoggedRows,
  TEST_DEFINITIONS,
  type LoggedRow,
} from './jobs.test-kit';

const PROJECT = 'pit';
const SECOND = 1_000_000;
const GRID = 600 * SECOND;

/** Deterministic randomness, so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const DRIVERS = [0, 1, 2, 3, 4, 10, 11, 100, -5];
const CUSTOMERS = ['a', 'b', 'ab', 'B', 'zz', 'a|b'];

interface EntityRowSpec {
  driver_id: number | null;
  customer_id: string | null;
  t: number;
  label: number;
}

/**
 * The point-in-time rule by brute force, written from ARCHITECTURE.md and nothing else: candidates share
 * the key, have event_timestamp <= t and (TTL > 0) >= t - TTL; as-served also needs appended and created
 * by t; the winner has the greatest (event_timestamp, created_timestamp with null lowest, offset, partition).
 */
function oracle(
  history: readonly LoggedRow[],
  view: FeatureViewDefinition,
  key: string,
  value: unknown,
  t: number,
  asServed: boolean,
): LoggedRow | null {
  if (value === null) return null;
  let best: LoggedRow | null = null;
  for (const row of history) {
    const et = row.values.event_timestamp as number;
    const created = row.values.created_timestamp as number | null;
    if (row.values[key] !== value || et > t) continue;
    if (view.ttlSeconds > 0 && et < t - view.ttlSeconds * SECOND) continue;
    if (asServed && (row.appendedAt > t || (created !== null && created > t))) continue;
    if (best === null) {
      best = row;
      continue;
    }
    const bet = best.values.event_timestamp as number;
    const bc = (best.values.created_timestamp as number | null) ?? -Infinity;
    const c = created ?? -Infinity;
    const wins =
      et !== bet
        ? et > bet
        : c !== bc
          ? c > bc
          : row.offset !== best.offset
            ? row.offset > best.offset
            : row.partition > best.partition;
    if (wins) best = row;
  }
  return best;
}

function naiveIso(micros: number): string {
  const millis = Math.floor(micros / 1000);
  return `${new Date(millis).toISOString().slice(0, 19)}.${String(micros % SECOND).padStart(6, '0')}`;
}

function plain(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (Array.isArray(value)) return value.map(plain);
  return value === undefined ? null : value;
}

async function readParquet(path: string): Promise<Record<string, unknown>[]> {
  const bytes = await readFile(path);
  const rows = await parquetReadObjects({
    file: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length),
    parsers: { timestampFromMicroseconds: (micros: bigint) => Number(micros) },
  });
  return rows.map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, plain(v)])));
}

describe('exportTrainingSet against a brute-force oracle (embedded log, segments + log tail)', () => {
  let dir: string;
  let log: FileEventLog;
  let schemas: LocalSchemaRegistry;
  let sources: HistorySources;
  const history = new Map<string, LoggedRow[]>();
  const entities: EntityRowSpec[] = [];
  const rand = random(20250101);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
  const maybe = <T>(value: T, nullShare = 0.2): T | null => (rand() < nullShare ? null : value);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'featurelog-export-'));
    log = await FileEventLog.open({ directory: join(dir, 'log'), fsync: 'never' });
    schemas = await LocalSchemaRegistry.open({ directory: join(dir, 'schemas') });
    const codec = new HyparquetSegmentCodec();
    sources = { log, schemas, codec, offlineRoot: join(dir, 'offline'), project: PROJECT };
    const views = await provisionTestProject(log, schemas, PROJECT);
    const base = Date.now() * 1000 - 48 * GRID;
    const gridTime = () => base + Math.floor(rand() * 40) * GRID;
    const createdFor = (et: number) => pick([null, et, et + GRID, et + 2 * GRID, et - GRID]);

    const rowFor = (view: FeatureViewDefinition): Record<string, FeatureValue> => {
      const event_timestamp = gridTime();
      const created_timestamp = createdFor(event_timestamp);
      if (view === CUSTOMER_PROFILE) {
        return {
          customer_id: pick(CUSTOMERS),
          event_timestamp,
          created_timestamp,
          spend: maybe(Math.round(rand() * 1e6) / 100),
          score: maybe(rand()),
          since: maybe(base - Math.floor(rand() * 1e6) * SECOND),
        };
      }
      if (view === DRIVER_DAILY) {
        return {
          driver_id: pick(DRIVERS),
          event_timestamp,
          created_timestamp,
          score: maybe(rand()),
          tags: maybe(['x', 'y', 'z'].slice(0, Math.floor(rand() * 4))),
        };
      }
      return {
        driver_id: pick(DRIVERS),
        event_timestamp,
        created_timestamp,
        conv_rate: maybe(rand()),
        trips: maybe(Math.floor(rand() * 1000)),
        note: maybe(pick(['ok', 'late', 'é|%=', ''])),
      };
    };

    // Three waves, so append times differ. After the second, the compactor covers 60% of each topic
    // (two segments per view); after the third it covers the rest of driver_daily, so that view is all
    // segments while the other two keep a log tail.
    const covered = new Map<string, Map<number, number>>();
    for (let wave = 0; wave < 3; wave++) {
      for (const view of [DRIVER_STATS, DRIVER_DAILY, CUSTOMER_PROFILE]) {
        await appendFeatureRows(
          log,
          views.get(view.name)!,
          Array.from({ length: 60 }, () => rowFor(view)),
        );
      }
      if (wave === 1) {
        for (const view of [DRIVER_STATS, CUSTOMER_PROFILE, DRIVER_DAILY]) {
          const ends = await log.endOffsets(views.get(view.name)!.topic);
          const cut = new Map([...ends].map(([p, end]) => [p, Math.floor(end * 0.6)]));
          await compactPrefix(log, schemas, codec, sources.offlineRoot, PROJECT, view, cut);
          covered.set(view.name, cut);
        }
      }
    }
    const dailyEnds = await log.endOffsets(views.get(DRIVER_DAILY.name)!.topic);
    await compactPrefix(
      log,
      schemas,
      codec,
      sources.offlineRoot,
      PROJECT,
      DRIVER_DAILY,
      dailyEnds,
      covered.get(DRIVER_DAILY.name),
    );

    for (const view of [DRIVER_STATS, DRIVER_DAILY, CUSTOMER_PROFILE]) {
      history.set(view.name, await readLoggedRows(log, schemas, PROJECT, view));
    }
    const allRows = [...history.values()].flat();

    for (let i = 0; i < 400; i++) {
      const anchor = pick(allRows);
      const et = anchor.values.event_timestamp as number;
      const t = pick([
        base + Math.floor(rand() * 46) * GRID, // on the grid: ties with event times
        et, // exactly at a row's event time
        et + DRIVER_STATS.ttlSeconds * SECOND, // that row exactly at t - TTL
        et + DRIVER_STATS.ttlSeconds * SECOND + 1, // one microsecond outside the window
        et + CUSTOMER_PROFILE.ttlSeconds * SECOND,
        anchor.appendedAt, // as-served: exactly when a row was appended
        anchor.appendedAt - 1,
        Date.now() * 1000 + GRID,
      ]);
      entities.push({
        driver_id: rand() < 0.05 ? 999 : pick(DRIVERS),
        customer_id: rand() < 0.05 ? null : pick(CUSTOMERS),
        t,
        label: i,
      });
    }
    for (let i = 0; i < 40; i++) entities.push({ ...pick(entities) }); // duplicates, at the end
    for (let i = 0; i < 20; i++) entities.splice(Math.floor(rand() * entities.length), 0, { ...pick(entities) });
  });

  after(async () => {
    await log.close();
    await schemas.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function writeCsv(path: string): void {
    const lines = ['label,driver_id,event_timestamp,customer_id'];
    for (const row of entities) {
      lines.push(
        `${row.label},${row.driver_id ?? ''},${naiveIso(row.t)},${row.customer_id === null ? '' : `"${row.customer_id}"`}`,
      );
    }
    writeFileSync(path, `${lines.join('\n')}\n`);
  }

  function writeEntityParquet(path: string): void {
    const buffer = parquetWriteBuffer({
      columnData: [
        {
          name: 'driver_id',
          data: entities.map((row) => (row.driver_id === null ? null : BigInt(row.driver_id))),
        },
        { name: 'customer_id', data: entities.map((row) => row.customer_id) },
        { name: 'event_timestamp', data: entities.map((row) => BigInt(row.t)) },
        { name: 'label', data: entities.map((row) => row.label) },
      ],
      schema: [
        { name: 'root', num_children: 4 },
        { name: 'driver_id', type: 'INT64', repetition_type: 'OPTIONAL' },
        { name: 'customer_id', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
        {
          name: 'event_timestamp',
          type: 'INT64',
          repetition_type: 'REQUIRED',
          converted_type: 'TIMESTAMP_MICROS',
          logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: false, unit: 'MICROS' },
        },
        { name: 'label', type: 'INT32', repetition_type: 'REQUIRED' },
      ],
    });
    writeFileSync(path, new Uint8Array(buffer));
  }

  function expected(asServed: boolean, fullNames: boolean, requested: Array<[FeatureViewDefinition, string[]]>) {
    return entities.map((entity) => {
      const out: Record<string, unknown> = {};
      for (const [view, features] of requested) {
        const key = view === CUSTOMER_PROFILE ? 'customer_id' : 'driver_id';
        const winner = oracle(history.get(view.name)!, view, key, entity[key], entity.t, asServed);
        for (const feature of features) {
          out[fullNames ? `${view.name}__${feature}` : feature] = plain(winner?.values[feature] ?? null);
        }
      }
      return out;
    });
  }

  const REQUESTED: Array<[FeatureViewDefinition, string[]]> = [
    [DRIVER_STATS, ['conv_rate', 'trips', 'note']],
    [DRIVER_DAILY, ['score', 'tags']],
    [CUSTOMER_PROFILE, ['spend', 'since']],
  ];

  for (const { format, asServed } of [
    { format: 'csv', asServed: false },
    { format: 'parquet', asServed: false },
    { format: 'csv', asServed: true },
    { format: 'parquet', asServed: true },
  ] as const) {
    it(`matches the oracle for every entity row (${format} entities${asServed ? ', as served' : ''}), in the original order`, async () => {
      const entitiesPath = join(dir, `entities-${format}-${asServed}.${format}`);
      if (format === 'csv') writeCsv(entitiesPath);
      else writeEntityParquet(entitiesPath);
      const output = join(dir, `out-${format}-${asServed}.parquet`);
      const request: ExportRequest = {
        entities: entitiesPath,
        features: ['driver_stats:*', 'driver_daily:*', 'customer_profile:spend', 'customer_profile:since'],
        output,
        asServed,
      };
      // Tiny in-memory bounds force every sorter to spill and merge runs.
      const result = await exportTrainingSet(sources, TEST_DEFINITIONS, request, {
        entityRowsInMemory: 37,
        tailRowsInMemory: 11,
      });
      assert.ok(result.spilledRuns > 0, 'the entity rows spilled');
      assert.ok(result.segmentRows > 0 && result.tailRows > 0, 'history came from segments and the log tail');
      assert.equal(result.rows, entities.length);

      const rows = await readParquet(output);
      assert.equal(rows.length, entities.length);
      const want = expected(asServed, false, REQUESTED);
      const columns =
        format === 'csv'
          ? ['label', 'driver_id', 'event_timestamp', 'customer_id']
          : ['driver_id', 'customer_id', 'event_timestamp', 'label'];
      assert.deepEqual(Object.keys(rows[0]!), [
        ...columns,
        'conv_rate',
        'trips',
        'note',
        'score',
        'tags',
        'spend',
        'since',
      ]);
      let matched = 0;
      rows.forEach((row, i) => {
        const entity = entities[i]!;
        assert.deepEqual(
          { label: row.label, driver_id: row.driver_id, customer_id: row.customer_id, t: row.event_timestamp },
          { label: entity.label, driver_id: entity.driver_id, customer_id: entity.customer_id, t: entity.t },
          `row ${i} kept its place and its columns`,
        );
        const features = Object.fromEntries(Object.keys(want[i]!).map((name) => [name, row[name]]));
        assert.deepEqual(
          features,
          want[i],
          `row ${i}: driver ${entity.driver_id}, customer ${entity.customer_id}, t ${entity.t}`,
        );
        if (Object.values(want[i]!).some((value) => value !== null)) matched += 1;
      });
      assert.ok(matched > entities.length / 4, `the data exercises matches (${matched} rows with a value)`);
    });
  }

  it('names columns view__feature with full feature names, so equal feature names can be exported together', async () => {
    const entitiesPath = join(dir, 'entities-full.csv');
    writeCsv(entitiesPath);
    const output = join(dir, 'out-full.parquet');
    await exportTrainingSet(sources, TEST_DEFINITIONS, {
      entities: entitiesPath,
      features: ['driver_daily:score', 'customer_profile:score'],
      output,
      fullFeatureNames: true,
    });
    const rows = await readParquet(output);
    const want = expected(false, true, [
      [DRIVER_DAILY, ['score']],
      [CUSTOMER_PROFILE, ['score']],
    ]);
    assert.deepEqual(
      rows.map((row) => ({
        driver_daily__score: row.driver_daily__score,
        customer_profile__score: row.customer_profile__score,
      })),
      want,
    );
  });
});
