import assert from 'node:assert/strict';
import { readdirSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import {
  encodeEntityKey,
  FeaturelogError,
  pushDestinationOf,
  PUSH_TO_HEADER,
  topicNames,
  valueSubject,
  type FeatureValue,
  type TaggedDefinition,
} from '@featurelog/domain';
import { avroType, encodeRow, readerSchema, rowSchemaFor, RowDecoder, type SchemaRegistryPort } from '@featurelog/avro';
import type { EventLog } from '@featurelog/log';
import {
  assertSegmentCoverage,
  HyparquetSegmentCodec,
  liveSegments,
  readSegment,
  segmentCoverage,
  type SegmentCatalog,
  type SegmentRow,
} from '@featurelog/offline-store';
import { seededRandom } from '@featurelog/testing';

export const MICROS_PER_DAY = 86_400_000_000;
/** 2025-03-01T00:00:00Z in µs. */
export const DAY0 = Date.UTC(2025, 2, 1) * 1000;

/** One entity and one offline view of four features (int64, float64, string, nullable), over `partitions` partitions. */
export function tripDefinitions(
  view: string,
  partitions = 3,
  extra: Partial<{ online: boolean; offline: boolean }> = {},
): TaggedDefinition[] {
  return [
    { kind: 'entity', definition: { name: 'rider', joinKeys: [{ name: 'rider_id', type: 'int64' }] } },
    {
      kind: 'feature_view',
      definition: {
        name: view,
        version: 1,
        entities: ['rider'],
        features: [
          { name: 'fare', type: 'float64' },
          { name: 'distance', type: 'int64' },
          { name: 'city', type: 'string' },
          { name: 'tags', type: 'list<string>' },
        ],
        ttlSeconds: 0,
        online: extra.online ?? false,
        offline: extra.offline ?? true,
        partitions,
      },
    },
  ];
}

export interface TripRow {
  rider_id: number;
  event_timestamp: number;
  created_timestamp: number | null;
  fare: number | null;
  distance: number | null;
  city: string | null;
  tags: string[] | null;
}

/** Deterministic rows whose event times wander over `days` days, out of order, with ties and nulls. */
export function tripRows(count: number, seed: number, days = 3, riders = 40): TripRow[] {
  const random = seededRandom(seed >>> 0 || 1);
  return Array.from({ length: count }, (_, i) => {
    const eventTimestamp = DAY0 + Math.floor(random() * days * 24) * 3_600_000_000 + (i % 7) * 1000;
    return {
      rider_id: Math.floor(random() * riders),
      event_timestamp: eventTimestamp,
      created_timestamp: random() < 0.3 ? null : eventTimestamp + 5,
      fare: random() < 0.1 ? null : Math.round(random() * 10_000) / 100,
      distance: random() < 0.1 ? null : Math.floor(random() * 50_000),
      city: random() < 0.1 ? null : ['paris', 'lyon', 'nantes'][i % 3]!,
      tags: random() < 0.2 ? null : [`t${i % 5}`],
    };
  });
}

/** Appends rows to the view's topic as Avro in the wire format, keyed by entity, in chunks of `chunk`. */
export async function produceTrips(
  log: EventLog,
  schemas: SchemaRegistryPort,
  project: string,
  definitions: TaggedDefinition[],
  rows: readonly TripRow[],
  chunk = 500,
  headers?: Record<string, string>,
): Promise<void> {
  const view = definitions.find((t) => t.kind === 'feature_view')!.definition as Parameters<typeof rowSchemaFor>[0];
  const entities = definitions.filter((t) => t.kind === 'entity').map((t) => t.definition) as Parameters<
    typeof rowSchemaFor
  >[1];
  const topic = topicNames.features(project, view);
  const schema = rowSchemaFor(view, entities, project);
  const id = await schemas.register(valueSubject(topic), schema);
  const type = avroType(schema);
  for (let i = 0; i < rows.length; i += chunk) {
    await log.append(
      topic,
      rows.slice(i, i + chunk).map((row) => ({
        key: Buffer.from(encodeEntityKey(entities[0]!.joinKeys, row as unknown as Record<string, unknown>)),
        value: encodeRow(id, type, row as unknown as Record<string, FeatureValue>),
        ...(headers === undefined ? {} : { headers }),
      })),
    );
  }
}

/** A row as compared between the log and the segments: position plus every value. */
export type ComparableRow = { partition: number; offset: number } & Record<string, unknown>;

export async function logTrips(
  log: EventLog,
  schemas: SchemaRegistryPort,
  project: string,
  definitions: TaggedDefinition[],
): Promise<{ rows: ComparableRow[]; ends: Map<number, number> }> {
  const view = definitions.find((t) => t.kind === 'feature_view')!.definition as Parameters<typeof rowSchemaFor>[0];
  const entities = definitions.filter((t) => t.kind === 'entity').map((t) => t.definition) as Parameters<
    typeof rowSchemaFor
  >[1];
  const topic = topicNames.features(project, view);
  const reader = readerSchema(rowSchemaFor(view, entities, project));
  const decoder = new RowDecoder(schemas);
  const ends = await log.endOffsets(topic);
  const rows: ComparableRow[] = [];
  for (const [partition, end] of ends) {
    if (end === 0) continue;
    for await (const batch of log.read(topic, partition, 0, { untilOffset: end })) {
      for (const record of batch) {
        if (record.value === null || record.value[0] !== 0) continue;
        // Pushed for the online store only: not offline history.
        if (pushDestinationOf(record.headers[PUSH_TO_HEADER]) === 'online') continue;
        let row: Record<string, unknown>;
        try {
          row = await decoder.decode(record.value, reader);
        } catch (error) {
          // Poison (an unknown schema id, an undecodable body): no row, in the log as in the segments.
          if (error instanceof FeaturelogError && !error.retriable) continue;
          throw error;
        }
        rows.push({ partition, offset: record.offset, ...row });
      }
    }
  }
  return { rows: sortComparable(rows), ends };
}

export async function segmentTrips(root: string, catalog: SegmentCatalog, view: string): Promise<ComparableRow[]> {
  const codec = new HyparquetSegmentCodec();
  const rows: ComparableRow[] = [];
  for (const segment of liveSegments(catalog, view)) {
    for await (const batch of readSegment(codec, root, segment)) {
      for (const row of batch) {
        assert.ok(
          row.eventTimestamp >= Date.parse(`${segment.date}T00:00:00Z`) * 1000 &&
            row.eventTimestamp < Date.parse(`${segment.date}T00:00:00Z`) * 1000 + MICROS_PER_DAY,
          `row p${row.partition}@${row.offset} is not of ${segment.date} (segment ${segment.path})`,
        );
        rows.push(comparable(row));
      }
    }
  }
  return sortComparable(rows);
}

function comparable(row: SegmentRow): ComparableRow {
  return {
    partition: row.partition,
    offset: row.offset,
    ...row.joinKeys,
    event_timestamp: row.eventTimestamp,
    created_timestamp: row.createdTimestamp,
    ...row.features,
  };
}

function sortComparable(rows: ComparableRow[]): ComparableRow[] {
  return rows.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
}

/**
 * The exactly-once check: the live segments' ranges cover every partition from 0 to its end with no
 * gap and no overlap, every row read back from the files is at a distinct (partition, offset), and the
 * rows equal the log's, value for value.
 */
export async function assertExactlyOnce(input: {
  root: string;
  catalog: SegmentCatalog;
  view: string;
  log: { rows: ComparableRow[]; ends: Map<number, number> };
}): Promise<{ segments: number; rows: number }> {
  const coverage = segmentCoverage(input.catalog, input.view);
  assertSegmentCoverage(coverage);
  const covered = new Map(coverage.partitions.map((p) => [p.partition, p.coveredUntil]));
  for (const [partition, end] of input.log.ends) {
    assert.equal(covered.get(partition) ?? 0, end, `partition ${partition} is covered up to its end`);
  }
  const rows = await segmentTrips(input.root, input.catalog, input.view);
  const positions = new Set(rows.map((row) => `${row.partition}:${row.offset}`));
  assert.equal(positions.size, rows.length, 'no (partition, offset) is in two segment rows');
  assert.deepEqual(rows, input.log.rows);
  return { segments: liveSegments(input.catalog, input.view).length, rows: rows.length };
}

/** Segment files (not temporaries) under the view's directory, relative to the root. */
export function segmentFilesOnDisk(root: string, project: string, view: string): string[] {
  const dir = join(root, project, view);
  if (!existsSync(dir)) return [];
  const files: string[] = [];
  for (const date of readdirSync(dir)) {
    for (const name of readdirSync(join(dir, date))) files.push(relative(root, join(dir, date, name)));
  }
  return files.sort();
}
