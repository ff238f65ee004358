import type { FeatureValue, RowVersion } from '@featurelog/domain';

/**
 * One historical row of a view, from a Parquet segment or the log tail, as an object: what a backfill
 * replays into the online store. The point-in-time join reads history as columns instead (HistoryColumns,
 * columnar-join.ts).
 */
export interface HistoryRow extends RowVersion {
  entityKey: string;
  /** When the log appended the row, epoch microseconds. */
  appendedAt: number;
  features: Readonly<Record<string, FeatureValue>>;
  /** The row deletes its entity of the view (change data capture): its features are all null. */
  deleted?: boolean;
}

/**
 * Sort order of a view's history: (entity key, event timestamp, created timestamp with null lowest,
 * partition, offset). Use it to k-way merge segments and the log tail with the domain's mergeSorted.
 */
export function compareHistoryRows(a: HistoryRow, b: HistoryRow): number {
  if (a.entityKey !== b.entityKey) return a.entityKey < b.entityKey ? -1 : 1;
  if (a.eventTimestamp !== b.eventTimestamp) return a.eventTimestamp - b.eventTimestamp;
  const ac = a.createdTimestamp ?? Number.NEGATIVE_INFINITY;
  const bc = b.createdTimestamp ?? Number.NEGATIVE_INFINITY;
  if (ac !== bc) return ac < bc ? -1 : 1;
  if (a.position.partition !== b.position.partition) return a.position.partition - b.position.partition;
  return a.position.offset - b.position.offset;
}
