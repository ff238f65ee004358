import type { SegmentRow, SegmentSchema } from './segment-schema';

/** Where a codec puts the bytes of a segment, in order; the segment file writer hashes and persists them. */
export interface SegmentByteSink {
  write(bytes: Uint8Array): void;
}

export interface SegmentWriteOptions {
  /** Rows per row group: the unit of buffering on write and of reading back. */
  rowGroupSize?: number;
}

/** Row batches in, row batches out: how segment rows become a file and back. */
export interface SegmentCodec {
  /** File name extension of the format, with its dot. */
  readonly extension: string;

  /**
   * Encodes the batches, in the order given, into `sink`. Memory stays bounded by one row group:
   * rows are buffered until a row group is full, then encoded and handed to the sink.
   * The schema travels inside the file, so reading needs nothing else.
   */
  write(
    schema: SegmentSchema,
    batches: AsyncIterable<SegmentRow[]> | Iterable<SegmentRow[]>,
    sink: SegmentByteSink,
    options?: SegmentWriteOptions,
  ): Promise<{ rowCount: number }>;

  /** The schema stored in the file at `path`. */
  readSchema(path: string): Promise<SegmentSchema>;

  /** The rows of the file at `path`, one batch per row group, in file order. */
  read(path: string): AsyncIterable<SegmentRow[]>;
}

export const SEGMENT_CODEC = Symbol('SEGMENT_CODEC');
