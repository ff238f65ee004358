import {
  encodeEntityKey,
  topicNames,
  valueSubject,
  type EntityDefinition,
  type FeatureValue,
  type FeatureViewDefinition,
  type TaggedDefinition,
} from '@featurelog/domain';
import { avroType, encodeRow, readerSchema, rowSchemaFor, RowDecoder, type SchemaRegistryPort } from '@featurelog/avro';
import type { EventLog } from '@featurelog/log';
import {
  SegmentEventSerde,
  segmentSchemaFor,
  sortSegmentRows,
  writeSegment,
  type SegmentCodec,
  type SegmentEvent,
  type SegmentRow,
} from '@featurelog/offline-store';
import type { Type } from 'avsc';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

/** Test fixtures shared by the jobs specs: definitions, feature rows on a log, segments written from it. */

export const DRIVER: EntityDefinition = { name: 'driver', joinKeys: [{ name: 'driver_id', type: 'int64' }] };
export const CUSTOMER: EntityDefinition = { name: 'customer', joinKeys: [{ name: 'customer_id', type: 'string' }] };

export const DRIVER_STATS: FeatureViewDefinition = {
  name: 'driver_stats',
  version: 1,
  entities: ['driver'],
  features: [
    { name: 'conv_rate', type: 'float64' },
    { name: 'trips', type: 'int64' },
    { name: 'note', type: 'string' },
  ],
  ttlSeconds: 3600,
  online: true,
  offline: true,
};

export const DRIVER_DAILY: FeatureViewDefinition = {
  name: 'driver_daily',
  version: 1,
  entities: ['driver'],
  features: [
    { name: 'score', type: 'float64' },
    { name: 'tags', type: 'list<string>' },
  ],
  ttlSeconds: 0,
  online: true,
  offline: true,
};

export const CUSTOMER_PROFILE: FeatureViewDefinition = {
  name: 'customer_profile',
  version: 1,
  entities: ['customer'],
  features: [
    { name: 'spend', type: 'float64' },
    { name: 'score', type: 'float64' },
    { name: 'since', type: 'timestamp' },
  ],
  ttlSeconds: 7200,
  online: true,
  offline: true,
};

export const ONLINE_ONLY: FeatureViewDefinition = {
  name: 'online_only',
  version: 1,
  entities: ['driver'],
  features: [{ name: 'live', type: 'int32' }],
  ttlSeconds: 0,
  online: true,
  offline: false,
};

export const TEST_VIEWS = [DRIVER_STATS, DRIVER_DAILY, CUSTOMER_PROFILE, ONLINE_ONLY];

export const TEST_DEFINITIONS: TaggedDefinition[] = [
  { kind: 'entity', definition: DRIVER },
  { kind: 'entity', definition: CUSTOMER },
  ...TEST_VIEWS.map((definition): TaggedDefinition => ({ kind: 'feature_view', definition })),
  {
    kind: 'feature_service',
    definition: { name: 'driver_model', features: ['driver_stats:*', 'customer_profile:spend'] },
  },
];

export const entitiesOf = (view: FeatureViewDefinition): EntityDefinition[] =>
  view.entities.map((name) => [DRIVER, CUSTOMER].find((entity) => entity.name === name)!);

export interface ProvisionedView {
  view: FeatureViewDefinition;
  topic: string;
  schemaId: number;
  type: Type;
}

/** Creates the view topics (3 partitions) and the segments topic, and registers the row schemas. */
export async function provisionTestProject(
  log: EventLog,
  schemas: SchemaRegistryPort,
  project: string,
): Promise<Map<string, ProvisionedView>> {
  await log.ensureTopic({ name: topicNames.segments(project), partitions: 1, config: {} });
  await log.ensureTopic({ name: topicNames.jobs(project), partitions: 1, config: {} });
  const out = new Map<string, ProvisionedView>();
  for (const view of TEST_VIEWS) {
    const topic = topicNames.features(project, view);
    await log.ensureTopic({ name: topic, partitions: 3, config: {} });
    const schema = rowSchemaFor(view, entitiesOf(view), project);
    const schemaId = await schemas.register(valueSubject(topic), schema);
    out.set(view.name, { view, topic, schemaId, type: avroType(schema) });
  }
  return out;
}

/** Appends feature rows (join keys, event_timestamp, created_timestamp, features) keyed by entity key. */
export async function appendFeatureRows(
  log: EventLog,
  target: ProvisionedView,
  rows: readonly Record<string, FeatureValue>[],
  headers?: Record<string, string>,
): Promise<void> {
  const joinKeys = entitiesOf(target.view).flatMap((entity) => entity.joinKeys);
  await log.append(
    target.topic,
    rows.map((row) => ({
      key: Buffer.from(encodeEntityKey(joinKeys, row)),
      value: encodeRow(target.schemaId, target.type, row),
      ...(headers === undefined ? {} : { headers }),
    })),
  );
}

/** A feature row as read back from the log, with where and when the log put it. */
export interface LoggedRow {
  values: Record<string, FeatureValue>;
  partition: number;
  offset: number;
  /** Append time, epoch µs. */
  appendedAt: number;
}

export async function readLoggedRows(
  log: EventLog,
  schemas: SchemaRegistryPort,
  project: string,
  view: FeatureViewDefinition,
): Promise<LoggedRow[]> {
  const topic = topicNames.features(project, view);
  const decoder = new RowDecoder(schemas);
  const reader = readerSchema(rowSchemaFor(view, entitiesOf(view), project));
  const out: LoggedRow[] = [];
  for (const [partition, end] of await log.endOffsets(topic)) {
    if (end === 0) continue;
    for await (const records of log.read(topic, partition, 0, { untilOffset: end })) {
      for (const record of records) {
        out.push({
          values: (await decoder.decode(record.value!, reader)) as Record<string, FeatureValue>,
          partition,
          offset: record.offset,
          appendedAt: record.timestamp * 1000,
        });
      }
    }
  }
  return out;
}

/**
 * Does what the compactor does for the first `until[p]` offsets of each partition: writes them as
 * segments (two per call, splitting each partition's range in half, so exports merge several files)
 * and announces them on `<project>.segments` in the compactor's encoding. Returns the events.
 */
export async function compactPrefix(
  log: EventLog,
  schemas: SchemaRegistryPort,
  codec: SegmentCodec,
  root: string,
  project: string,
  view: FeatureViewDefinition,
  until: ReadonlyMap<number, number>,
  from: ReadonlyMap<number, number> = new Map(),
): Promise<SegmentEvent[]> {
  const schema = segmentSchemaFor(view, entitiesOf(view));
  const logged = await readLoggedRows(log, schemas, project, view);
  const halves: [Map<number, [number, number]>, Map<number, [number, number]>] = [new Map(), new Map()];
  for (const [partition, end] of until) {
    const start = from.get(partition) ?? 0;
    const middle = start + Math.floor((end - start) / 2);
    halves[0].set(partition, [start, middle]);
    halves[1].set(partition, [middle, end]);
  }
  const events: SegmentEvent[] = [];
  for (const half of halves) {
    const ranges = [...half]
      .filter(([, [start, end]]) => start < end)
      .map(([partition, [fromOffset, untilOffset]]) => ({ partition, fromOffset, untilOffset }));
    if (ranges.length === 0) continue;
    const rows: SegmentRow[] = logged
      .filter((row) => {
        const range = half.get(row.partition);
        return range !== undefined && row.offset >= range[0] && row.offset < range[1];
      })
      .map((row) => ({
        joinKeys: Object.fromEntries(schema.joinKeys.map((key) => [key.name, row.values[key.name] ?? null])),
        eventTimestamp: row.values.event_timestamp as number,
        createdTimestamp: (row.values.created_timestamp as number | null) ?? null,
        partition: row.partition,
        offset: row.offset,
        appendTime: row.appendedAt,
        features: Object.fromEntries(
          schema.features.map((feature) => [feature.name, row.values[feature.name] ?? null]),
        ),
      }));
    const event = await writeSegment(codec, {
      root,
      project,
      schema,
      date: '2025-01-01',
      ranges,
      rows: [sortSegmentRows(schema, rows)],
      rowGroupSize: 7,
    });
    events.push(event);
  }
  const serde = new SegmentEventSerde(schemas, project);
  await log.append(
    topicNames.segments(project),
    await Promise.all(events.map(async (event) => ({ key: Buffer.from(view.name), value: await serde.encode(event) }))),
  );
  return events;
}

/** The project venv's python, FEATURELOG_PYTHON's or python3: the first that can import pyarrow (or none). */
export function pyarrowPython(): string | undefined {
  const venv = resolve(__dirname, '../../../.venv/bin/python');
  for (const candidate of [venv, process.env.FEATURELOG_PYTHON, 'python3']) {
    if (!candidate || (candidate.includes('/') && !existsSync(candidate))) continue;
    if (spawnSync(candidate, ['-c', 'import pyarrow'], { stdio: 'ignore' }).status === 0) return candidate;
  }
  return undefined;
}
