import type { FeatureValue, RowVersion } from '@featurelog/domain';

/**
 * One row of the entity frame a training set is built from. `entityKeys` holds one encoded entity
 * key per key name (e.g. `driver` and `customer`), because views in one export may be keyed by
 * different entities; each join pass reads the key its views share. `features` accumulates the
 * per-view results of earlier passes, so the output of one pass is the input of the next.
 */
export interface EntityRow {
  /** Position in the caller's original frame; the join never reorders by it, the caller restores with it. */
  rowIndex: number;
  /** The row's point in time `t`, epoch microseconds, UTC. */
  timestamp: number;
  entityKeys: Readonly<Record<string, string>>;
  /** Extra columns (labels, ids…), carried through untouched. */
  columns: Readonly<Record<string, unknown>>;
  /** view name → requested feature → value; null values where the view had no candidate. */
  features?: Readonly<Record<string, Readonly<Record<string, FeatureValue>>>>;
}

/** One historical row of a view, from a Parquet segment or the log tail. */
export interface HistoryRow extends RowVersion {
  entityKey: string;
  /** When the log appended the row, epoch microseconds; only the as-served option reads it. */
  appendedAt: number;
  features: Readonly<Record<string, FeatureValue>>;
}

/** A view to join: its rows, sorted by {@link compareHistoryRows}, and what to take from them. */
export interface PitView {
  name: string;
  /** 0 means no lower bound. */
  ttlSeconds: number;
  features: readonly string[];
  history: AsyncIterable<readonly HistoryRow[]>;
}

/**
 * The one order on encoded entity keys that every producer of sorted input must share:
 * UTF-16 code units, i.e. JavaScript's `<` on strings (equal to byte order for ASCII keys).
 */
export function compareEntityKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
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

/** Sort order of entity rows for a pass over views keyed by `keyName`: (entity key, timestamp, row index). */
export function entityRowOrder(keyName: string): (a: EntityRow, b: EntityRow) => number {
  return (a, b) => {
    const ak = a.entityKeys[keyName] ?? '';
    const bk = b.entityKeys[keyName] ?? '';
    if (ak !== bk) return ak < bk ? -1 : 1;
    if (a.timestamp !== b.timestamp) return a.timestamp - b.timestamp;
    return a.rowIndex - b.rowIndex;
  };
}

/**
 * In-memory sort for small frames. Large frames need a spill-to-disk sorter, which is I/O and so
 * lives outside this library; it must produce the same order.
 */
export function sortEntityRows<R extends EntityRow>(rows: readonly R[], keyName: string): R[] {
  return [...rows].sort(entityRowOrder(keyName));
}

/** Puts joined rows back in the caller's original order. */
export function restoreRowOrder<R extends EntityRow>(rows: readonly R[]): R[] {
  return [...rows].sort((a, b) => a.rowIndex - b.rowIndex);
}
