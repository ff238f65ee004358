import { open } from 'node:fs/promises';
import { zstdDecompressSync } from 'node:zlib';
import type { RecordBatch } from 'apache-arrow';
import { parquetMetadataAsync, parquetScan, parquetSchema } from 'hyparquet';
import { FeaturelogError, type ValueType } from '@featurelog/domain';
import { parquetFileBuffer, arrowRecordBatch } from '@featurelog/offline-store';
import { MICROS_PARSERS, parquetColumnType, type SchemaNode } from './entity-file';

/**
 * The scan of a training set's Parquet file that its Arrow result reads (the export bench's floor reads
 * the same): zstd pages, timestamps as epoch µs, and bytes kept as bytes (only STRING columns are text).
 */
export function scanTrainingSetFile(
  file: Parameters<typeof parquetScan>[0]['file'],
  metadata: Parameters<typeof parquetScan>[0]['metadata'],
): ReturnType<typeof parquetScan> {
  return parquetScan({
    file,
    metadata,
    compressors: { ZSTD: (bytes: Uint8Array) => new Uint8Array(zstdDecompressSync(bytes)) },
    parsers: MICROS_PARSERS,
    utf8: false,
  });
}

/**
 * A training set's Parquet file as Arrow record batches, one per row group, read from disk as they are
 * asked for: memory holds one row group (the export's rowGroupSize rows) however large the file is.
 * Column types are the Parquet file's, as pyarrow reads them (see arrowTypeOf).
 */
export async function* parquetRecordBatches(path: string): AsyncGenerator<RecordBatch> {
  const handle = await open(path, 'r');
  try {
    const file = await parquetFileBuffer(handle);
    const metadata = await parquetMetadataAsync(file);
    const columns = parquetSchema(metadata).children.map((node) => {
      const type = parquetColumnType(node as unknown as SchemaNode);
      if (type === undefined) {
        throw new FeaturelogError(
          'TRAINING_SET_RESULT_UNREADABLE',
          `${path}: column ${node.element.name} has no featurelog type`,
        );
      }
      return { name: node.element.name, type: type as ValueType };
    });
    const scan = await scanTrainingSetFile(file, metadata);
    if (scan.ranges.length === 0)
      yield arrowRecordBatch(
        columns.map((column) => ({ ...column, values: [] })),
        0,
      );
    for (const { rowStart, rowEnd } of scan.ranges) {
      const values = await Promise.all(
        columns.map(
          async (column) => (await scan.readColumn({ column: column.name, rowStart, rowEnd })) as ArrayLike<unknown>,
        ),
      );
      yield arrowRecordBatch(
        columns.map((column, c) => ({ ...column, values: values[c]! })),
        rowEnd - rowStart,
      );
    }
  } finally {
    await handle.close();
  }
}
