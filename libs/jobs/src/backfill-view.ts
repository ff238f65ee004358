import {
  compareRowVersions,
  encodeEntityKey,
  FeaturelogError,
  requireDefinition,
  viewJoinKeys,
  type DefinitionSource,
  type FeatureValue,
  type RowVersion,
} from '@featurelog/domain';
import type { OnlineRow, OnlineStore } from '@featurelog/online-store';
import {
  assertOneTopicFiledUnder,
  avroSegmentEventDecoder,
  initialSegmentCatalog,
  readSegmentCatalog,
  resolveOfflineView,
  segmentSchemaFor,
  type KeyedHistoryRow,
  type SegmentEventDecoder,
} from '@featurelog/offline-store';
import { watermarkOf } from './export-history';
import type { JobProgress } from './job-progress';
import { openViewHistory, type HistorySources } from './view-history';
import { throwIfCancelled } from './job-cancellation';

export interface BackfillRequest {
  view: string;
  /** Inclusive event-time bounds, epoch µs; absent means unbounded. */
  from?: number;
  to?: number;
  /**
   * `segments`: live segments plus the uncompacted log tail (default); `log`: the whole log. Only the log
   * knows a push's `to`: `log` replays exactly the rows meant for the online store, while segments hold
   * the rows meant for the offline store (pushed to=offline included, to=online left out).
   */
  source?: 'segments' | 'log';
}

export interface BackfillOptions {
  /** Rows per online-store write. */
  batchSize?: number;
  /** Retention of written rows as a multiple of the view's TTL, as the materializer does (0 = keep forever). */
  retentionTtlMultiple?: number;
  tailRowsInMemory?: number;
  spillDirectory?: string;
  onProgress?: (progress: JobProgress) => void;
  /** Cancels the backfill between batches of rows (the rows written so far stay: they are last-write-wins). */
  signal?: AbortSignal;
  /** How `<project>.segments` records decode; default the compactor's Avro serde. */
  decodeSegmentEvent?: SegmentEventDecoder;
}

export interface BackfillResult {
  view: string;
  source: 'segments' | 'log';
  watermark: Record<number, number>;
  rowsRead: number;
  /**
   * Rows that won last-write-wins; the rest were older than a later row of their entity in the history
   * (never written) or than what the store held.
   */
  rowsWon: number;
  /**
   * Log-tail records skipped because they cannot be decoded (poison). They are not dead-lettered again:
   * the consumers that met them (materializer, compactor) did that.
   */
  undecodableTailRecords: number;
  millis: number;
}

/**
 * Replays a view's history, as of the log's high watermark when it starts, into the online store. Every
 * write goes through last-write-wins (OnlineStore.writeBatch), so running it while live ingestion writes
 * newer rows is safe: a replayed row never replaces a greater (event, created, position) version.
 *
 * Only each entity's greatest row (compareRowVersions, source position included) in the time range is
 * written: the history comes sorted by entity. A delete (change data capture, `deleted` in segments and
 * the log tail) that is an entity's greatest row is written as a delete, so the entity reads NOT_FOUND
 * as it does after the materializer applied it.
 */
export async function backfillView(
  sources: HistorySources,
  definitions: DefinitionSource,
  store: OnlineStore,
  request: BackfillRequest,
  { batchSize = 2_000, retentionTtlMultiple = 2, ...options }: BackfillOptions = {},
): Promise<BackfillResult> {
  const started = Date.now();
  const progress = options.onProgress ?? (() => undefined);
  const source = request.source ?? 'segments';
  if (source !== 'segments' && source !== 'log') {
    throw new FeaturelogError('BACKFILL_SOURCE_INVALID', `source "${String(source)}" must be segments or log`);
  }
  const from = request.from ?? Number.NEGATIVE_INFINITY;
  const to = request.to ?? Number.POSITIVE_INFINITY;
  if (from > to) {
    throw new FeaturelogError('BACKFILL_RANGE_INVALID', `--from (${from}) is after --to (${to})`);
  }
  const view = requireDefinition(definitions, 'feature_view', request.view);
  if (!view.online) {
    throw new FeaturelogError('VIEW_NOT_ONLINE', `feature view "${view.name}" is not served online (online: false)`);
  }
  const entities = view.entities.map((name) => requireDefinition(definitions, 'entity', name));
  const joinKeys = viewJoinKeys(definitions, view);
  // The view's data source's existing topic, if it reads one, else its managed topic.
  const { topic, source: dataSource } = resolveOfflineView(definitions, sources.project, view);
  if (source === 'segments') assertOneTopicFiledUnder(definitions, sources.project, view);
  const catalog =
    source === 'segments'
      ? await readSegmentCatalog(
          sources.log,
          sources.project,
          options.decodeSegmentEvent ?? avroSegmentEventDecoder(sources.schemas, sources.project),
        )
      : initialSegmentCatalog();
  const watermark = await watermarkOf(sources, view.name, topic, dataSource);
  const history = await openViewHistory(sources, {
    view,
    entities,
    joinKeys: segmentSchemaFor(view, entities).joinKeys,
    topic,
    ...(dataSource === undefined ? {} : { dataSource }),
    catalog,
    watermark,
    source,
    eventTimeFrom: from,
    eventTimeTo: to,
    tailRowsInMemory: options.tailRowsInMemory,
    spillDirectory: options.spillDirectory,
    withJoinKeys: true,
    forStore: 'online',
    onProgress: progress,
  });
  const features = view.features.map((feature) => feature.name);
  const ttlSeconds =
    view.ttlSeconds > 0 && retentionTtlMultiple > 0 ? Math.ceil(view.ttlSeconds * retentionTtlMultiple) : undefined;
  const total = history.segmentRows + history.tailRows;
  let rowsRead = 0;
  let rowsWon = 0;
  /** Rows taken from the history, in the time range or not: what progress counts towards `total`. */
  let rowsSeen = 0;
  try {
    let batch: OnlineRow[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      rowsWon += await store.writeBatch({ rows: batch });
      batch = [];
    };
    /** The greatest row so far of the entity being read (rows come sorted by entity). */
    let pending: { entityKey: string; row: KeyedHistoryRow } | undefined;
    const take = async () => {
      if (pending === undefined) return;
      batch.push(onlineRowOf(pending.row));
      pending = undefined;
      if (batch.length >= batchSize) await flush();
    };
    const onlineRowOf = (row: KeyedHistoryRow): OnlineRow => {
      const values: Record<string, FeatureValue> = {};
      if (row.deleted !== true) for (const name of features) values[name] = row.features[name] ?? null;
      const version: RowVersion = {
        eventTimestamp: row.eventTimestamp,
        createdTimestamp: row.createdTimestamp,
        position: row.position,
      };
      if (row.sourcePosition !== undefined) version.sourcePosition = row.sourcePosition;
      const online: OnlineRow = {
        project: sources.project,
        entityKey: encodeEntityKey(joinKeys, row.joinKeys),
        view: view.name,
        version,
        features: values,
      };
      if (row.deleted === true) online.deleted = true;
      if (ttlSeconds !== undefined) online.ttlSeconds = ttlSeconds;
      return online;
    };
    progress({ phase: `writing ${view.name} to the online store`, done: 0, total });
    for await (const rows of history.rows) {
      throwIfCancelled(options.signal);
      rowsSeen += rows.length;
      for (const row of rows as KeyedHistoryRow[]) {
        if (row.eventTimestamp < from || row.eventTimestamp > to) continue;
        rowsRead += 1;
        if (pending !== undefined && pending.entityKey === row.entityKey) {
          if (compareRowVersions(row, pending.row) > 0) pending.row = row;
          continue;
        }
        await take();
        pending = { entityKey: row.entityKey, row };
      }
      progress({ phase: `writing ${view.name} to the online store`, done: rowsSeen, total });
    }
    await take();
    await flush();
    progress({ phase: `writing ${view.name} to the online store`, done: total, total });
  } finally {
    await history.close();
  }
  return {
    view: view.name,
    source,
    watermark: Object.fromEntries(watermark),
    rowsRead,
    rowsWon,
    undecodableTailRecords: history.undecodableTailRecords,
    millis: Date.now() - started,
  };
}
