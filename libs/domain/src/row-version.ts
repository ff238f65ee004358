/** Where a row sits in the log. One entity's rows share a partition, so offsets order them. */
export interface LogPosition {
  partition: number;
  offset: number;
}

/**
 * The triple that decides which of two rows for the same entity and view wins:
 * greatest event timestamp, then greatest created timestamp (absent ranks lowest),
 * then greatest log position. Timestamps are epoch microseconds, UTC.
 */
export interface RowVersion {
  eventTimestamp: number;
  createdTimestamp: number | null;
  position: LogPosition;
}

/**
 * Total order on row versions: negative when `a` loses to `b`, positive when it wins,
 * zero only for the same row. Ties on both timestamps fall to the log position
 * (offset, then partition, which only matters for rows replayed from different topics).
 */
export function compareRowVersions(a: RowVersion, b: RowVersion): number {
  if (a.eventTimestamp !== b.eventTimestamp) return a.eventTimestamp < b.eventTimestamp ? -1 : 1;
  const ac = a.createdTimestamp ?? Number.NEGATIVE_INFINITY;
  const bc = b.createdTimestamp ?? Number.NEGATIVE_INFINITY;
  if (ac !== bc) return ac < bc ? -1 : 1;
  if (a.position.offset !== b.position.offset) return a.position.offset < b.position.offset ? -1 : 1;
  return a.position.partition - b.position.partition;
}
