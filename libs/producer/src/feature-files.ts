import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { extname } from 'node:path';
import { brotliDecompressSync, gunzipSync, zstdDecompressSync } from 'node:zlib';
import { parse } from 'csv-parse';
import { parquetMetadataAsync, parquetReadObjects, parquetSchema, type AsyncBuffer } from 'hyparquet';
import { FeaturelogError } from '@featurelog/domain';

export type FeatureFileFormat = 'csv' | 'parquet';

/** One record of a file with where it is: `row` counts data rows from 1 (the CSV header is not a row). */
export interface FileRecord {
  row: number;
  /** CSV only: the line the record ends on (header = line 1). */
  line?: number;
  /** Column → value: CSV text, or Parquet's typed values (bigint int64, micros for timestamps). */
  values: Record<string, unknown>;
  /** Why the record could not even be split into columns (a CSV row with the wrong number of cells). */
  malformed?: string;
}

export interface FileBatch {
  records: FileRecord[];
  /** How far through the file, 0..1. */
  fraction: number;
}

/** A feature file opened for reading, possibly several times (validation pass, then production pass). */
export interface FeatureFile {
  path: string;
  format: FeatureFileFormat;
  columns: string[];
  /** Known up front for Parquet; for CSV only after a full read. */
  rowCount: number | undefined;
  batches(batchSize?: number): AsyncIterable<FileBatch>;
}

/** The format by extension (.csv, .parquet, .pq), else `declared` (the data source's), else an error. */
export function featureFileFormat(path: string, declared?: FeatureFileFormat): FeatureFileFormat {
  const extension = extname(path).toLowerCase();
  if (extension === '.csv') return 'csv';
  if (extension === '.parquet' || extension === '.pq') return 'parquet';
  if (declared !== undefined) return declared;
  throw new FeaturelogError(
    'INGEST_UNKNOWN_FORMAT',
    `cannot tell the format of ${path}: expected a .csv or .parquet file (or a data source declaring its format)`,
  );
}

export async function openFeatureFile(path: string, format: FeatureFileFormat): Promise<FeatureFile> {
  try {
    await stat(path);
  } catch (error) {
    throw new FeaturelogError('INGEST_FILE_NOT_FOUND', `cannot read ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return format === 'csv' ? openCsv(path) : openParquet(path);
}

const CSV_OPTIONS = { bom: true, info: true, relax_column_count: true, skip_empty_lines: true } as const;

interface CsvItem {
  record: string[];
  info: { lines: number; bytes: number };
}

function unreadable(path: string, error: unknown): FeaturelogError {
  return new FeaturelogError('INGEST_FILE_UNREADABLE', `cannot read ${path}: ${(error as Error).message}`, {
    cause: error,
  });
}

async function openCsv(path: string): Promise<FeatureFile> {
  const { size } = await stat(path);
  let columns: string[] = [];
  const header = createReadStream(path).pipe(parse({ ...CSV_OPTIONS, to_line: 1 }));
  try {
    for await (const item of header as AsyncIterable<CsvItem>) columns = item.record.map((c) => c.trim());
  } catch (error) {
    throw unreadable(path, error);
  }
  if (columns.length === 0) throw new FeaturelogError('INGEST_FILE_EMPTY', `${path} has no header line`);
  return {
    path,
    format: 'csv',
    columns,
    rowCount: undefined,
    async *batches(batchSize = 1_000) {
      const parser = createReadStream(path).pipe(parse({ ...CSV_OPTIONS, from_line: 2 }));
      let records: FileRecord[] = [];
      let row = 0;
      let fraction = 0;
      try {
        for await (const { record, info } of parser as AsyncIterable<CsvItem>) {
          row++;
          // from_line skips the header, but the line numbers csv-parse reports still count it.
          const values: Record<string, unknown> = {};
          for (let i = 0; i < columns.length; i++) values[columns[i]!] = record[i];
          const out: FileRecord = { row, line: info.lines, values };
          if (record.length !== columns.length) {
            out.malformed = `has ${record.length} cell(s) where the header has ${columns.length} column(s)`;
          }
          records.push(out);
          fraction = size === 0 ? 1 : info.bytes / size;
          if (records.length >= batchSize) {
            yield { records, fraction };
            records = [];
          }
        }
      } catch (error) {
        throw unreadable(path, error);
      }
      if (records.length > 0 || row === 0) yield { records, fraction: 1 };
    },
  };
}

/** Timestamps arrive as epoch microseconds, exact (hyparquet's default is a millisecond Date). */
const PARQUET_PARSERS = {
  timestampFromMilliseconds: (millis: bigint) => Number(millis) * 1000,
  timestampFromMicroseconds: (micros: bigint) => Number(micros),
  timestampFromNanoseconds: (nanos: bigint) => Number(nanos / 1000n),
};

const PARQUET_COMPRESSORS = {
  ZSTD: (input: Uint8Array) => new Uint8Array(zstdDecompressSync(input)),
  GZIP: (input: Uint8Array) => new Uint8Array(gunzipSync(input)),
  BROTLI: (input: Uint8Array) => new Uint8Array(brotliDecompressSync(input)),
};

/** Byte ranges of a local file, read on demand (hyparquet reads the footer, then column chunks). */
async function fileBuffer(path: string): Promise<AsyncBuffer> {
  const { size } = await stat(path);
  return {
    byteLength: size,
    async slice(start: number, end = size): Promise<ArrayBuffer> {
      const handle = await open(path, 'r');
      try {
        const bytes = new Uint8Array(end - start);
        await handle.read(bytes, 0, bytes.length, start);
        return bytes.buffer;
      } finally {
        await handle.close();
      }
    },
  };
}

async function openParquet(path: string): Promise<FeatureFile> {
  const file = await fileBuffer(path);
  let metadata;
  try {
    metadata = await parquetMetadataAsync(file, { parsers: PARQUET_PARSERS });
  } catch (error) {
    throw unreadable(path, error);
  }
  const columns = parquetSchema(metadata).children.map((child) => child.element.name);
  const rowCount = Number(metadata.num_rows);
  return {
    path,
    format: 'parquet',
    columns,
    rowCount,
    async *batches(batchSize = 1_000) {
      // One row group at a time (hyparquet decodes whole column chunks anyway), so memory stays bounded by a group.
      let start = 0;
      for (const group of metadata.row_groups) {
        const groupEnd = start + Number(group.num_rows);
        let objects: Array<Record<string, unknown>>;
        try {
          objects = await parquetReadObjects({
            file,
            metadata,
            rowStart: start,
            rowEnd: groupEnd,
            parsers: PARQUET_PARSERS,
            compressors: PARQUET_COMPRESSORS,
          });
        } catch (error) {
          throw unreadable(path, error);
        }
        for (let offset = 0; offset < objects.length; offset += batchSize) {
          const slice = objects.slice(offset, offset + batchSize);
          const first = start + offset;
          yield {
            records: slice.map((values, i) => ({ row: first + i + 1, values })),
            fraction: rowCount === 0 ? 1 : (first + slice.length) / rowCount,
          };
        }
        start = groupEnd;
      }
    },
  };
}
