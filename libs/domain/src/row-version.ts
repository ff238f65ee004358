/** Where a row sits in the log. One entity's rows share a partition, so offsets order them. */
export interface LogPosition {
  partition: number;
  offset: number;
}

/**
 * What decides which of two rows for the same entity and view wins: greatest event timestamp, then
 * greatest created timestamp (absent ranks lowest), then greatest source position (absent ranks
 * lowest), then greatest log position. Timestamps are epoch microseconds, UTC.
 */
export interface RowVersion {
  eventTimestamp: number;
  createdTimestamp: number | null;
  /**
   * Where the row's change sits in its source database's own log (change data capture: the
   * PostgreSQL LSN, the MySQL binlog file and position), as a string whose byte order is the
   * source's commit order: digits only, fixed width per source (see `SOURCE_POSITION_PATTERN`). It breaks ties that the timestamps leave
   * between changes of one source that reached different partitions. Absent for rows produced to
   * featurelog directly.
   */
  sourcePosition?: string;
  position: LogPosition;
}

/**
 * A source position: 1 to 60 digits, fixed width per source so that plain byte comparison orders it
 * (the CDC decoders pad each number of the source's position with zeros). Digits only, so that every
 * store can compare it as text (Redis' Lua compares strings with strcoll, and no locale reorders digits).
 */
export const SOURCE_POSITION_PATTERN = /^[0-9]{1,60}$/;

/**
 * Total order on row versions: negative when `a` loses to `b`, positive when it wins,
 * zero only for the same row. Ties on both timestamps fall to the source position, then the log position
 * (offset, then partition, which only matters for rows replayed from different topics).
 */
export function compareRowVersions(a: RowVersion, b: RowVersion): number {
  if (a.eventTimestamp !== b.eventTimestamp) return a.eventTimestamp < b.eventTimestamp ? -1 : 1;
  const ac = a.createdTimestamp ?? Number.NEGATIVE_INFINITY;
  const bc = b.createdTimestamp ?? Number.NEGATIVE_INFINITY;
  if (ac !== bc) return ac < bc ? -1 : 1;
  const as = a.sourcePosition;
  const bs = b.sourcePosition;
  if (as !== bs) {
    if (as === undefined) return -1;
    if (bs === undefined) return 1;
    return as < bs ? -1 : 1;
  }
  if (a.position.offset !== b.position.offset) return a.position.offset < b.position.offset ? -1 : 1;
  return a.position.partition - b.position.partition;
}
