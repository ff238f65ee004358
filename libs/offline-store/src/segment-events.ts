/**
 * Events of the `<project>.segments` topic (keyed by view). Plain JSON-serialisable data, so the Avro
 * encoding can be laid over them without change. Timestamps are epoch microseconds, UTC.
 */

/** A half-open range of one partition's offsets: `fromOffset` included, `untilOffset` excluded. */
export interface OffsetRange {
  partition: number;
  fromOffset: number;
  untilOffset: number;
}

export interface SegmentWritten {
  type: 'SegmentWritten';
  segmentId: string;
  view: string;
  /** Relative to the offline root: `<project>/<view>/date=YYYY-MM-DD/<segment-id>.parquet`. */
  path: string;
  /** `YYYY-MM-DD`, the day directory the file sits in. */
  date: string;
  /** The log offsets the segment accounts for; each offset in them is in this segment and no other. */
  ranges: OffsetRange[];
  /** Null only for a segment without rows (its ranges held nothing for this view and date). */
  minEventTime: number | null;
  maxEventTime: number | null;
  rowCount: number;
  /** Lower-case hex SHA-256 of the whole file. */
  checksum: string;
  bytes: number;
  writtenAt: number;
}

export interface SegmentsMerged {
  type: 'SegmentsMerged';
  /** The new segment; its ranges are exactly the union of the replaced segments' ranges. */
  mergedInto: SegmentWritten;
  replaced: string[];
}

export type SegmentEvent = SegmentWritten | SegmentsMerged;
