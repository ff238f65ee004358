import { open, type FileHandle } from 'node:fs/promises';
import { zstdDecompressSync } from 'node:zlib';
import { FeaturelogError, listElementType, type FeatureValue } from '@featurelog/domain';
import { parquetFileBuffer } from './parquet-file-buffer';
import { SEGMENT_SYSTEM_COLUMNS as SYS, type SegmentSchema } from './segment-schema';
import { parquetScan } from 'hyparquet';
import { corrupt, plain } from './history-columns';
import type { HistoryRow } from '@featurelog/pit';
import { sortableEntityKey } from './sortable-entity-key';

/** History rows keep the typed join key values so a backfill can re-encode the log's entity key. */
export interface KeyedHistoryRow extends HistoryRow {
  joinKeys: Record<string, FeatureValue>;
}

export interface SegmentHistoryReadOptions {
  /** History rows handed out per batch: the unit the k-way merge holds per segment, beyond the decoded columns. */
  batchSize?: number;
  /** Rows whose partition offset is at or past this are skipped (a segment that reaches past the watermark). */
  keep?: (partition: number, offset: number) => boolean;
  /** Also hand out the typed join key values (backfills re-encode the log's entity key from them). */
  withJoinKeys?: boolean;
}

const MICROS_PARSERS = {
  timestampFromMicroseconds: (micros: bigint) => Number(micros),
  timestampFromMilliseconds: (millis: bigint) => Number(millis) * 1000,
  timestampFromNanoseconds: (nanos: bigint) => Number(nanos / 1000n),
};

/**
 * Reads a segment file column by column (one row group's columns decoded at a time, by hyparquet's
 * scan) and builds history rows straight from the columns, in small batches. Exports read segments
 * this way rather than through SegmentCodec.read, which builds a row object per row group row first:
 * measured on bench/export, decoding columns is several times faster and holds far less per open
 * segment — which matters, because the merge keeps every segment of a view open at once.
 * The file is plain Parquet in the segment layout (segment-schema.ts); its checksum was verified first.
 */
export async function* readSegmentHistory(
  path: string,
  schema: SegmentSchema,
  { batchSize = 4096, keep, withJoinKeys = false }: SegmentHistoryReadOptions = {},
): AsyncGenerator<KeyedHistoryRow[]> {
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
      scan = await parquetScan({
        file,
        utf8: true,
        compressors: { ZSTD: (bytes: Uint8Array) => new Uint8Array(zstdDecompressSync(bytes)) },
        parsers: MICROS_PARSERS,
      });
    } catch (error) {
      throw corrupt(path, error);
    }
    const keyNames = schema.joinKeys.map((key) => key.name);
    const featureNames = schema.features.map((feature) => feature.name);
    const listFeatures = new Set(
      schema.features.filter((feature) => listElementType(feature.type) !== undefined).map((feature) => feature.name),
    );
    for (const { rowStart, rowEnd } of scan.ranges) {
      const read = async (column: string) => {
        try {
          return (await scan.readColumn({ column, rowStart, rowEnd })) as ArrayLike<unknown>;
        } catch (error) {
          throw corrupt(path, error);
        }
      };
      const [keys, events, created, partitions, offsets, appended, features] = await Promise.all([
        Promise.all(keyNames.map(read)),
        read(SYS.eventTimestamp),
        read(SYS.createdTimestamp),
        read(SYS.partition),
        read(SYS.offset),
        read(SYS.appendTime),
        Promise.all(featureNames.map(read)),
      ]);
      const rows = rowEnd - rowStart;
      for (let start = 0; start < rows; start += batchSize) {
        const end = Math.min(rows, start + batchSize);
        const batch: KeyedHistoryRow[] = [];
        for (let i = start; i < end; i++) {
          const partition = Number(partitions[i]);
          const offset = Number(offsets[i]);
          if (keep !== undefined && !keep(partition, offset)) continue;
          const joinKeys: Record<string, FeatureValue> = {};
          for (let k = 0; k < keyNames.length; k++) joinKeys[keyNames[k]!] = plain(keys[k]![i]);
          const values: Record<string, FeatureValue> = {};
          for (let f = 0; f < featureNames.length; f++) {
            const value = features[f]![i];
            values[featureNames[f]!] = listFeatures.has(featureNames[f]!)
              ? ((value as unknown[] | null | undefined)?.map(plain) ?? null)
              : plain(value);
          }
          const createdAt = created[i];
          batch.push({
            entityKey: sortableEntityKey(schema.joinKeys, joinKeys),
            eventTimestamp: events[i] as number,
            createdTimestamp: createdAt === null || createdAt === undefined ? null : (createdAt as number),
            position: { partition, offset },
            appendedAt: appended[i] as number,
            features: values,
            joinKeys: withJoinKeys ? joinKeys : NO_JOIN_KEYS,
          });
        }
        if (batch.length > 0) yield batch;
      }
    }
  } finally {
    await handle.close();
  }
}

const NO_JOIN_KEYS: Record<string, FeatureValue> = Object.freeze({}) as Record<string, FeatureValue>;
