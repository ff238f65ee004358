import {
  encodeEntityKey,
  FeaturelogError,
  requireDefinition,
  viewJoinKeys,
  type DefinitionSource,
  type FeatureValue,
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
  /** Rows that won last-write-wins; the rest were older than what the store held. */
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
  if (dataSource?.format === 'debezium' || dataSource?.format === 'debezium-unwrapped') {
    // Segments keep a delete as a row without values (right for exports), which a backfill would write as
    // a present row of nulls; and the online rows of a delete do not go through the history's spill yet.
    throw new FeaturelogError(
      'BACKFILL_DELETES_UNSUPPORTED',
      `feature view "${view.name}" reads a ${dataSource.format} source, whose deletes a backfill does not replay ` +
        `yet: the materializer rebuilds its online values from ${topic}`,
    );
  }
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
    progress({ phase: `writing ${view.name} to the online store`, done: 0, total });
    for await (const rows of history.rows) {
      throwIfCancelled(options.signal);
      rowsSeen += rows.length;
      for (const row of rows as KeyedHistoryRow[]) {
        if (row.eventTimestamp < from || row.eventTimestamp > to) continue;
        rowsRead += 1;
        const values: Record<string, FeatureValue> = {};
        for (const name of features) values[name] = row.features[name] ?? null;
        const online: OnlineRow = {
          project: sources.project,
          entityKey: encodeEntityKey(joinKeys, row.joinKeys),
          view: view.name,
          version: {
            eventTimestamp: row.eventTimestamp,
            createdTimestamp: row.createdTimestamp,
            position: row.position,
          },
          features: values,
        };
        if (ttlSeconds !== undefined) online.ttlSeconds = ttlSeconds;
        batch.push(online);
        if (batch.length >= batchSize) await flush();
      }
      progress({ phase: `writing ${view.name} to the online store`, done: rowsSeen, total });
    }
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
