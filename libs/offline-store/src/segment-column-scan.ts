import { open, type FileHandle } from 'node:fs/promises';
import { zstdDecompressSync } from 'node:zlib';
import { FeaturelogError } from '@featurelog/domain';
import { parquetMetadataAsync, parquetScan } from 'hyparquet';
import { parquetFileBuffer } from './parquet-file-buffer';
import { SEGMENT_SYSTEM_COLUMNS as SYS } from './segment-schema';

/** One row group of a segment being scanned: its row count and a reader of its columns. */
export interface SegmentRowGroup {
  rows: number;
  /** The decoded values of one column of this row group (a typed array for numbers where Parquet allows). */
  read(column: string): Promise<ArrayLike<unknown>>;
}

/** The columns of a row group a history reader needs, each read once and side by side. */
export interface HistoryColumnsRead {
  keys: Array<ArrayLike<unknown>>;
  events: ArrayLike<unknown>;
  created: ArrayLike<unknown>;
  partitions: ArrayLike<unknown>;
  offsets: ArrayLike<unknown>;
  appended: ArrayLike<unknown> | undefined;
  /** Absent when the segment has no change-data-capture columns (SegmentSchema.changes), or they were not asked for. */
  sourcePositions: ArrayLike<unknown> | undefined;
  deleted: ArrayLike<unknown> | undefined;
  features: Array<ArrayLike<unknown>>;
}

/**
 * Reads the join keys, the system columns (append time if asked, the change-data-capture columns if asked
 * and the segment has them) and these features of a row group.
 */
export async function readHistoryColumns(
  { read }: SegmentRowGroup,
  keyNames: readonly string[],
  featureNames: readonly string[],
  withAppendTime: boolean,
  { sourcePositions: withSourcePositions = false, deleted: withDeleted = false } = {},
): Promise<HistoryColumnsRead> {
  const [keys, events, created, partitions, offsets, appended, sourcePositions, deleted, features] = await Promise.all([
    Promise.all(keyNames.map(read)),
    read(SYS.eventTimestamp),
    read(SYS.createdTimestamp),
    read(SYS.partition),
    read(SYS.offset),
    withAppendTime ? read(SYS.appendTime) : undefined,
    withSourcePositions ? read(SYS.sourcePosition) : undefined,
    withDeleted ? read(SYS.deleted) : undefined,
    Promise.all(featureNames.map(read)),
  ]);
  return { keys, events, created, partitions, offsets, appended, sourcePositions, deleted, features };
}

export interface SegmentScanOptions {
  /**
   * µs timestamps decoded as their INT64 (a BigInt64Array when required) rather than through a parser
   * per value: the same epoch microseconds, read by the caller without a bigint per value.
   */
  rawMicros?: boolean;
}

const MICROS_PARSERS = {
  timestampFromMicroseconds: (micros: bigint) => Number(micros),
  timestampFromMilliseconds: (millis: bigint) => Number(millis) * 1000,
  timestampFromNanoseconds: (nanos: bigint) => Number(nanos / 1000n),
};

/**
 * Scans a segment file one row group at a time, decoding only the columns asked for (hyparquet's scan).
 * The file is plain Parquet in the segment layout (segment-schema.ts); its checksum was verified first.
 * A file that cannot be opened is SEGMENT_MISSING, one that cannot be decoded SEGMENT_CORRUPT.
 */
export async function* scanSegmentRowGroups(
  path: string,
  { rawMicros = false }: SegmentScanOptions = {},
): AsyncGenerator<SegmentRowGroup> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    throw new FeaturelogError('SEGMENT_MISSING', `segment file ${path} cannot be opened: ${(error as Error).message}`, {
      cause: error,
    });
  }
  try {
    const file = await parquetFileBuffer(handle);
    let scan: Awaited<ReturnType<typeof parquetScan>>;
    try {
      const metadata = await parquetMetadataAsync(file);
      if (rawMicros) {
        for (const element of metadata.schema) {
          if (element.converted_type === 'TIMESTAMP_MICROS') {
            delete element.converted_type;
            delete element.logical_type;
          }
        }
      }
      scan = await parquetScan({
        file,
        metadata,
        utf8: true,
        compressors: { ZSTD: (bytes: Uint8Array) => new Uint8Array(zstdDecompressSync(bytes)) },
        parsers: MICROS_PARSERS,
      });
    } catch (error) {
      throw corrupt(path, error);
    }
    for (const { rowStart, rowEnd } of scan.ranges) {
      yield {
        rows: rowEnd - rowStart,
        read: async (column) => {
          try {
            return (await scan.readColumn({ column, rowStart, rowEnd })) as ArrayLike<unknown>;
          } catch (error) {
            throw corrupt(path, error);
          }
        },
      };
    }
  } finally {
    await handle.close();
  }
}

export function corrupt(path: string, error: unknown): FeaturelogError {
  return new FeaturelogError('SEGMENT_CORRUPT', `segment file ${path} cannot be decoded: ${(error as Error).message}`, {
    cause: error,
  });
}
