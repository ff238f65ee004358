import { writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { parquetReadObjects } from 'hyparquet';
import { parquetWriteBuffer } from 'hyparquet-writer';
import {
  pointInTimeLookup,
  type FeatureValue,
  type FeatureViewDefinition,
  type PitCandidate,
} from '@featurelog/domain';
import type { SchemaRegistryPort } from '@featurelog/avro';
import type { EventLog } from '@featurelog/log';
import type { SegmentCodec } from '@featurelog/offline-store';
import {
  appendFeatureRows,
  compactPrefix,
  CUSTOMER_PROFILE,
  DRIVER_DAILY,
  DRIVER_STATS,
  provisionTestProject,
  readLoggedRows,
  type LoggedRow,
} from './jobs.test-kit';
import { seededRandom } from '@featurelog/testing';

/**
 * The randomized point-in-time scenario the export specs (embedded log and Kafka) run, with its
 * brute-force oracle: three views with ties on event and created time, null features, rows exactly at t
 * and exactly at t - TTL, duplicate entity rows, unknown and missing keys, and history partly compacted
 * into segments and partly only in the log tail.
 */

const SECOND = 1_000_000;
const GRID = 600 * SECOND;

const DRIVERS = [0, 1, 2, 3, 4, 10, 11, 100, -5];
const CUSTOMERS = ['a', 'b', 'ab', 'B', 'zz', 'a|b'];

export interface EntityRowSpec {
  driver_id: number | null;
  customer_id: string | null;
  t: number;
  label: number;
}

/**
 * The point-in-time winner among logged rows by the domain's brute-force rule, pointInTimeLookup (the
 * oracle): the row whose `key` column equals `value` that wins at t under the view's TTL, or null.
 */
export function oracle(
  history: readonly LoggedRow[],
  view: FeatureViewDefinition,
  key: string,
  value: unknown,
  t: number,
  asServed: boolean,
): LoggedRow | null {
  if (value === null) return null;
  const candidates = history.map((row): PitCandidate<LoggedRow> => ({
    entityKey: keyText(row.values[key]),
    eventTimestamp: row.values.event_timestamp as number,
    createdTimestamp: row.values.created_timestamp as number | null,
    position: { partition: row.partition, offset: row.offset },
    appendTime: row.appendedAt,
    values: row,
  }));
  const winner = pointInTimeLookup(
    candidates,
    { entityKey: keyText(value), timestamp: t },
    { ttlSeconds: view.ttlSeconds, asServed },
  );
  return winner?.values ?? null;
}

/** Equal text exactly for strictly equal key values (1 and "1" stay apart). */
const keyText = (value: unknown): string => `${typeof value}:${String(value)}`;

export function naiveIso(micros: number): string {
  const millis = Math.floor(micros / 1000);
  return `${new Date(millis).toISOString().slice(0, 19)}.${String(micros % SECOND).padStart(6, '0')}`;
}

export function plain(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (Array.isArray(value)) return value.map(plain);
  return value === undefined ? null : value;
}

export async function readParquet(path: string): Promise<Record<string, unknown>[]> {
  const bytes = await readFile(path);
  const rows = await parquetReadObjects({
    file: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length),
    parsers: { timestampFromMicroseconds: (micros: bigint) => Number(micros) },
  });
  return rows.map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, plain(v)])));
}

export const REQUESTED_FEATURES = [
  'driver_stats:*',
  'driver_daily:*',
  'customer_profile:spend',
  'customer_profile:since',
];

export interface PitScenario {
  history: Map<string, LoggedRow[]>;
  entities: EntityRowSpec[];
  writeCsv(path: string): void;
  writeEntityParquet(path: string): void;
  expected(
    asServed: boolean,
    fullNames: boolean,
    requested: Array<[FeatureViewDefinition, string[]]>,
  ): Record<string, unknown>[];
}

export async function buildPitScenario({
  log,
  schemas,
  codec,
  offlineRoot,
  project,
  seed = 20250101,
}: {
  log: EventLog;
  schemas: SchemaRegistryPort;
  codec: SegmentCodec;
  offlineRoot: string;
  project: string;
  seed?: number;
}): Promise<PitScenario> {
  const PROJECT = project;
  const sources = { offlineRoot };
  const history = new Map<string, LoggedRow[]>();
  const entities: EntityRowSpec[] = [];
  const rand = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
  const maybe = <T>(value: T, nullShare = 0.2): T | null => (rand() < nullShare ? null : value);
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

  return { history, entities, writeCsv, writeEntityParquet, expected };
}

export const REQUESTED: Array<[FeatureViewDefinition, string[]]> = [
  [DRIVER_STATS, ['conv_rate', 'trips', 'note']],
  [DRIVER_DAILY, ['score', 'tags']],
  [CUSTOMER_PROFILE, ['spend', 'since']],
];
