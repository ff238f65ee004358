import { join } from 'node:path';
import {
  FeaturelogError,
  mergeSorted,
  type EntityDefinition,
  type FeatureValue,
  type FeatureViewDefinition,
} from '@featurelog/domain';
import type { KafkaDataSource, SchemaRegistryPort } from '@featurelog/avro';
import type { EventLog } from '@featurelog/log';
import {
  assertSegmentCoverage,
  buildOfflineView,
  liveSegments,
  offlineViewKey,
  readSegmentHistory,
  segmentCoverage,
  sortableEntityKey,
  verifySegment,
  type OfflineView,
  type SegmentCatalog,
  type SegmentCodec,
  type SegmentColumn,
  type SegmentSchema,
  type SegmentWritten,
} from '@featurelog/offline-store';
import { compareHistoryRows, type HistoryRow } from '@featurelog/pit';
import { ExternalSorter } from './external-sorter';
import { ViewTail } from './view-tail';

/** Where history comes from: the log (tail and, for backfills, all of it) and the offline segments. */
export interface HistorySources {
  log: EventLog;
  /** Writer schemas of the rows on feature topics and of segment events (the schema registry port). */
  schemas: SchemaRegistryPort;
  codec: SegmentCodec;
  /** The offline root that segment paths are relative to. */
  offlineRoot: string;
  project: string;
}

/** Partition → offset: the log's high watermark, everything before it and nothing after. */
export type Watermark = ReadonlyMap<number, number>;

export interface ViewHistoryOptions {
  view: FeatureViewDefinition;
  entities: readonly EntityDefinition[];
  joinKeys: readonly SegmentColumn[];
  /** The topic the view reads: its data source's when that is an existing (`kafka`) topic, else its managed one. */
  topic: string;
  /** The view's data source when it reads an existing topic: its records are decoded with the source's mapping. */
  dataSource?: KafkaDataSource;
  /** Live segments of the catalog read just before `watermark` was captured. */
  catalog: SegmentCatalog;
  watermark: Watermark;
  /** `segments`: live segments plus the uncompacted tail; `log`: the whole log, no segment read. */
  source?: 'segments' | 'log';
  /** Event-time bounds (inclusive, µs) outside which no row is wanted: whole segments are skipped. */
  eventTimeFrom?: number;
  eventTimeTo?: number;
  /** Log-tail rows sorted in memory before sorted runs spill to disk. */
  tailRowsInMemory?: number;
  spillDirectory?: string;
  /** Keep each row's typed join key values (KeyedHistoryRow.joinKeys); backfills need them, exports do not. */
  withJoinKeys?: boolean;
  /**
   * Which store the history is for, as far as the log tail tells (a push's `to`, see PushDestination):
   * `offline` (exports, default) leaves out tail rows pushed for the online store only, as the compactor
   * leaves them out of segments; `online` (backfills) leaves out rows pushed for the offline store only.
   * Segments carry no destination: with `source: 'segments'` their rows are taken whatever `forStore`.
   */
  forStore?: 'offline' | 'online';
  onProgress?: (progress: { phase: string; done: number; total: number }) => void;
}

/** A view's history as of one watermark, as rows sorted by compareHistoryRows (what a backfill replays). */
export interface ViewHistory {
  /** Segments that will be read (verified by checksum before anything else). */
  segments: SegmentWritten[];
  segmentRows: number;
  tailRows: number;
  /** Tail records that could not be decoded (poison rows, which the materializer sends to the DLQ). */
  undecodableTailRecords: number;
  /** Rows in {@link compareHistoryRows} order (entity key is the sortable key). Iterate once. */
  rows: AsyncIterable<HistoryRow[]>;
  close(): Promise<void>;
}

/** A view's live segments to read (verified, overlapping the event-time bounds) and where its log tail starts. */
export interface ViewSegments {
  segments: SegmentWritten[];
  segmentSchemas: Map<string, SegmentSchema>;
  /** Partition → first offset not covered by the view's live segments (absent: 0). */
  tailFrom: Map<number, number>;
}

/**
 * Every live segment of the view (each checksum-verified up front, so a missing or corrupt file fails the
 * job with its path before any row is read) whose version and join keys match, and where the uncompacted
 * tail begins; segments entirely outside the event-time bounds are left out of the read.
 */
export async function selectViewSegments(sources: HistorySources, options: ViewHistoryOptions): Promise<ViewSegments> {
  const { view, source = 'segments', eventTimeFrom = -Infinity, eventTimeTo = Infinity } = options;
  const progress = options.onProgress ?? (() => undefined);
  const segments: SegmentWritten[] = [];
  const segmentSchemas = new Map<string, SegmentSchema>();
  const tailFrom = new Map<number, number>();
  if (source === 'segments') {
    // Filed under the compactor's key: `name.v<n>` from version 2, whose topic starts again at offset 0.
    const key = offlineViewKey(view);
    const live = liveSegments(options.catalog, key);
    const kept: SegmentWritten[] = [];
    const schemas = new Map<string, SegmentSchema>();
    for (const [i, segment] of live.entries()) {
      progress({ phase: `verifying segments of ${view.name}`, done: i, total: live.length });
      await verifySegment(sources.offlineRoot, segment);
      const schema = await sources.codec.readSchema(join(sources.offlineRoot, segment.path));
      if (schema.viewVersion !== view.version) continue;
      if (!sameJoinKeys(schema.joinKeys, options.joinKeys)) {
        throw new FeaturelogError(
          'SEGMENT_SCHEMA_MISMATCH',
          `segment ${join(sources.offlineRoot, segment.path)} has join keys ${describeKeys(schema.joinKeys)}, ` +
            `view "${view.name}" has ${describeKeys(options.joinKeys)}`,
        );
      }
      kept.push(segment);
      schemas.set(segment.segmentId, schema);
    }
    progress({ phase: `verifying segments of ${view.name}`, done: live.length, total: live.length });
    const coverage = segmentCoverage(
      { ...options.catalog, live: new Map([[key, new Map(kept.map((s) => [s.segmentId, s]))]]) },
      key,
    );
    assertSegmentCoverage(coverage);
    for (const { partition, coveredUntil } of coverage.partitions) tailFrom.set(partition, coveredUntil);
    for (const segment of kept) {
      const outside =
        segment.minEventTime === null ||
        segment.maxEventTime === null ||
        segment.minEventTime > eventTimeTo ||
        segment.maxEventTime < eventTimeFrom;
      if (!outside) {
        segments.push(segment);
        segmentSchemas.set(segment.segmentId, schemas.get(segment.segmentId)!);
      }
    }
  }

  return { segments, segmentSchemas, tailFrom };
}

/**
 * Prepares the history of one view exactly as the log held it at `watermark`: every live segment of the
 * view (each checksum-verified up front, so a missing or corrupt file fails the job with its path before
 * any row is read), plus the log from where the segments' coverage ends up to the watermark, decoded and
 * sorted (spilling sorted runs beyond `tailRowsInMemory`). Each segment is sorted already; `rows` k-way
 * merges them with the sorted tail, holding one batch per input.
 */
export async function openViewHistory(sources: HistorySources, options: ViewHistoryOptions): Promise<ViewHistory> {
  const { watermark, eventTimeFrom = -Infinity, eventTimeTo = Infinity } = options;
  const progress = options.onProgress ?? (() => undefined);
  const { segments, segmentSchemas, tailFrom } = await selectViewSegments(sources, options);
  const tail = new ExternalSorter<HistoryRow>({
    compare: compareHistoryRows,
    maxInMemory: options.tailRowsInMemory ?? 500_000,
    directory: options.spillDirectory,
  });
  try {
    const undecodable = await readTail(sources, options, tailFrom, eventTimeFrom, eventTimeTo, tail, progress);
    const inputs: AsyncIterable<readonly HistoryRow[]>[] = segments.map((segment) =>
      segmentHistory(
        sources,
        segment,
        segmentSchemas.get(segment.segmentId)!,
        watermark,
        options.withJoinKeys ?? false,
      ),
    );
    if (tail.size > 0) inputs.push(tail.sorted());
    const rows: AsyncIterable<HistoryRow[]> =
      inputs.length === 1
        ? (inputs[0] as AsyncIterable<HistoryRow[]>)
        : mergeSorted(inputs, compareHistoryRows, { batchSize: 8192 });
    return {
      segments,
      segmentRows: segments.reduce((sum, segment) => sum + segment.rowCount, 0),
      tailRows: tail.size,
      undecodableTailRecords: undecodable,
      rows,
      close: () => tail.close(),
    };
  } catch (error) {
    await tail.close();
    throw error;
  }
}

async function readTail(
  sources: HistorySources,
  options: ViewHistoryOptions,
  tailFrom: ReadonlyMap<number, number>,
  eventTimeFrom: number,
  eventTimeTo: number,
  sorter: ExternalSorter<HistoryRow>,
  progress: NonNullable<ViewHistoryOptions['onProgress']>,
): Promise<number> {
  const { joinKeys } = options;
  const tail = new ViewTail(sources, {
    view: tailViewOf(sources, options),
    watermark: options.watermark,
    tailFrom,
    forStore: options.forStore ?? 'offline',
    onProgress: progress,
  });
  for await (const decoded of tail.rows()) {
    const rows: HistoryRow[] = [];
    for (const row of decoded) {
      if (row.eventTimestamp < eventTimeFrom || row.eventTimestamp > eventTimeTo) continue;
      rows.push({
        entityKey: sortableEntityKey(joinKeys, row.joinKeys),
        eventTimestamp: row.eventTimestamp,
        createdTimestamp: row.createdTimestamp,
        ...(row.sourcePosition === undefined ? {} : { sourcePosition: row.sourcePosition }),
        position: { partition: row.partition, offset: row.offset },
        appendedAt: row.appendTime,
        features: row.features,
        ...(row.deleted === true ? { deleted: true } : {}),
        ...(options.withJoinKeys ? { joinKeys: pick(row.joinKeys, joinKeys) } : {}),
      } as HistoryRow);
    }
    await sorter.add(rows);
  }
  return tail.unreadable.length;
}

/** The view as the compactor reads it, for decoding its tail the compactor's way (see ViewTail). */
export function tailViewOf(sources: HistorySources, options: ViewHistoryOptions): OfflineView {
  const view = buildOfflineView(sources.project, options.view, [...options.entities], options.dataSource);
  return { ...view, topic: options.topic };
}

/** One segment's rows as history rows, cut at the watermark in case the segment reaches past it. */
function segmentHistory(
  sources: HistorySources,
  segment: SegmentWritten,
  schema: SegmentSchema,
  watermark: Watermark,
  withJoinKeys: boolean,
): AsyncIterable<HistoryRow[]> {
  const path = join(sources.offlineRoot, segment.path);
  const pastWatermark = segment.ranges.some((range) => range.untilOffset > (watermark.get(range.partition) ?? 0));
  return readSegmentHistory(path, schema, {
    withJoinKeys,
    keep: pastWatermark ? (partition, offset) => offset < (watermark.get(partition) ?? 0) : undefined,
  });
}

function pick(values: Record<string, FeatureValue>, keys: readonly SegmentColumn[]): Record<string, FeatureValue> {
  const out: Record<string, FeatureValue> = {};
  for (const key of keys) out[key.name] = values[key.name] ?? null;
  return out;
}

function sameJoinKeys(a: readonly SegmentColumn[], b: readonly SegmentColumn[]): boolean {
  return a.length === b.length && a.every((key, i) => key.name === b[i]!.name && key.type === b[i]!.type);
}

function describeKeys(keys: readonly SegmentColumn[]): string {
  return `(${keys.map((key) => `${key.name} ${key.type}`).join(', ')})`;
}
