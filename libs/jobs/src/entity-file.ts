import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { extname } from 'node:path';
import { zstdDecompressSync } from 'node:zlib';
import { parse } from 'csv-parse';
import { RecordBatchReader, type DataType, type RecordBatch, type Schema, type Vector } from 'apache-arrow';
import { FeaturelogError, parseValueType, type ScalarType, type ValueType } from '@featurelog/domain';
import { parquetFileBuffer, arrowValues, domainTypeOfArrow } from '@featurelog/offline-store';
import {
  parquetMetadataAsync,
  parquetRead,
  parquetScan,
  parquetSchema,
  type AsyncBuffer,
  type FileMetaData,
} from 'hyparquet';

export type EntityFileFormat = 'parquet' | 'csv' | 'arrow';

/** A column of the entity file; `type` is known up front for Parquet, inferred while reading for CSV. */
export interface EntityFileColumn {
  name: string;
  /**
   * Parquet and Arrow: the column's type (undefined for one with no domain type, kept as text). CSV:
   * undefined (text; see EntityRowDecoder for inference).
   */
  type: ValueType | undefined;
}

/**
 * An entity file opened for reading: its columns are known before any row is read, so the export can
 * refuse a file without `event_timestamp` or a join key before doing any work.
 */
export interface EntityFile {
  path: string;
  format: EntityFileFormat;
  columns: EntityFileColumn[];
  /** Rows as arrays in column order: CSV gives text (empty cells as null), Parquet typed values. */
  rows(): AsyncIterable<unknown[][]>;
  /**
   * Parquet and Arrow: the same values a row group (record batch) at a time, as columns (file order, equal
   * lengths; a column may be a typed array), with no array per row.
   */
  columnBatches?(): AsyncIterable<ArrayLike<unknown>[]>;
}

export async function openEntityFile(path: string, format?: EntityFileFormat): Promise<EntityFile> {
  const chosen = format ?? formatOf(path);
  try {
    await stat(path);
  } catch (error) {
    throw new FeaturelogError(
      'ENTITY_FILE_NOT_FOUND',
      `entity file ${path} cannot be read: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  return chosen === 'csv' ? openCsv(path) : chosen === 'arrow' ? openArrow(path) : openParquet(path);
}

function formatOf(path: string): EntityFileFormat {
  const extension = extname(path).toLowerCase();
  if (extension === '.csv') return 'csv';
  if (extension === '.parquet' || extension === '.pq') return 'parquet';
  if (ARROW_EXTENSIONS.includes(extension)) return 'arrow';
  throw new FeaturelogError(
    'ENTITY_FILE_FORMAT_UNKNOWN',
    `entity file ${path}: cannot tell the format from "${extension}"; expected .parquet, .csv or .arrow`,
  );
}

const ARROW_EXTENSIONS = ['.arrow', '.arrows', '.ipc', '.feather'];

/**
 * An Arrow IPC file or stream (either framing: the reader tells them apart by their first bytes), read a
 * record batch at a time from disk: memory holds one batch however long the file is. Values are taken
 * as {@link arrowValues} gives them (timestamps of any unit, zoned or naive — naive is UTC — as epoch µs).
 */
async function openArrow(path: string): Promise<EntityFile> {
  const invalid = (error: unknown, what: string) =>
    error instanceof FeaturelogError
      ? error
      : new FeaturelogError('ENTITY_FILE_INVALID', `entity file ${path} ${what}: ${(error as Error).message}`, {
          cause: error,
        });
  let schema: Schema | undefined;
  const handle = await open(path, 'r');
  try {
    const reader = await RecordBatchReader.from(handle);
    await reader.open();
    schema = reader.schema as Schema | undefined;
  } catch (error) {
    throw invalid(error, 'is not a readable Arrow IPC stream or file');
  } finally {
    await handle.close().catch(() => undefined);
  }
  if (schema === undefined) {
    throw new FeaturelogError(
      'ENTITY_FILE_INVALID',
      `entity file ${path} is not an Arrow IPC stream or file: it has no schema message (is it empty?)`,
    );
  }
  const seen = new Set<string>();
  for (const field of schema.fields) {
    if (seen.has(field.name)) {
      throw new FeaturelogError('ENTITY_FILE_INVALID', `entity file ${path} has two columns named "${field.name}"`);
    }
    seen.add(field.name);
  }
  const columns = schema.fields.map((field): EntityFileColumn => ({
    name: field.name,
    type: domainTypeOfArrow(field.type as DataType),
  }));
  async function* columnBatches(): AsyncIterable<ArrayLike<unknown>[]> {
    const handle = await open(path, 'r');
    try {
      const reader = await RecordBatchReader.from(handle);
      for await (const batch of reader as AsyncIterable<RecordBatch>) {
        if (batch.numRows === 0) continue;
        yield columns.map((_column, c) => arrowValues(batch.getChildAt(c) as Vector));
      }
    } catch (error) {
      throw invalid(error, 'cannot be decoded');
    } finally {
      await handle.close().catch(() => undefined);
    }
  }
  return {
    path,
    format: 'arrow',
    columns,
    columnBatches,
    async *rows() {
      for await (const batch of columnBatches()) {
        const length = batch[0]?.length ?? 0;
        yield Array.from({ length }, (_row, r) => batch.map((column) => column[r]));
      }
    },
  };
}

async function openCsv(path: string): Promise<EntityFile> {
  const header = await readCsvHeader(path);
  const seen = new Set<string>();
  for (const name of header) {
    if (seen.has(name))
      throw new FeaturelogError('ENTITY_FILE_INVALID', `entity file ${path} has two columns named "${name}"`);
    seen.add(name);
  }
  return {
    path,
    format: 'csv',
    columns: header.map((name) => ({ name, type: undefined })),
    async *rows() {
      const parser = createReadStream(path).pipe(
        parse({ from_line: 2, relax_column_count: false, skip_empty_lines: true, bom: true }),
      );
      let batch: unknown[][] = [];
      try {
        for await (const record of parser as AsyncIterable<string[]>) {
          batch.push(record.map((cell) => (cell === '' ? null : cell)));
          if (batch.length === 8192) {
            yield batch;
            batch = [];
          }
        }
      } catch (error) {
        if (error instanceof FeaturelogError) throw error;
        throw new FeaturelogError('ENTITY_FILE_INVALID', `entity file ${path}: ${(error as Error).message}`, {
          cause: error,
        });
      }
      if (batch.length > 0) yield batch;
    },
  };
}

async function readCsvHeader(path: string): Promise<string[]> {
  const parser = createReadStream(path).pipe(parse({ to_line: 1, bom: true }));
  for await (const record of parser as AsyncIterable<string[]>) return record.map((name) => name.trim());
  throw new FeaturelogError('ENTITY_FILE_INVALID', `entity file ${path} is empty: expected a header line`);
}

async function openParquet(path: string): Promise<EntityFile> {
  const handle = await open(path, 'r');
  let metadata: FileMetaData;
  let file: AsyncBuffer;
  try {
    file = await parquetFileBuffer(handle);
    metadata = await parquetMetadataAsync(file);
  } catch (error) {
    await handle.close();
    throw new FeaturelogError(
      'ENTITY_FILE_INVALID',
      `entity file ${path} is not readable Parquet: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  await handle.close();
  const nodes = parquetSchema(metadata).children;
  const columns = nodes.map((node): EntityFileColumn => ({
    name: node.element.name,
    type: parquetColumnType(node),
  }));
  // Read with utf8 off (a BYTE_ARRAY without annotation is bytes), text the reader leaves as bytes
  // (ENUM) is decoded here.
  const textIndexes = nodes.flatMap((node, i) => (isUndecodedText(node) ? [i] : []));
  const decodeText = (values: ArrayLike<unknown>): unknown[] =>
    Array.from(values, (value) => (value instanceof Uint8Array ? UTF8.decode(value) : value));
  return {
    path,
    format: 'parquet',
    columns,
    async *columnBatches() {
      const reading = await open(path, 'r');
      try {
        const scan = await parquetScan({
          file: await parquetFileBuffer(reading),
          metadata,
          compressors: { ZSTD: (bytes: Uint8Array) => new Uint8Array(zstdDecompressSync(bytes)) },
          parsers: MICROS_PARSERS,
          // A BYTE_ARRAY without a STRING annotation is bytes (parquetColumnType says so): read it as such.
          utf8: false,
        });
        for (const { rowStart, rowEnd } of scan.ranges) {
          const batch = await Promise.all(
            columns.map(
              async (column) =>
                (await scan.readColumn({ column: column.name, rowStart, rowEnd })) as ArrayLike<unknown>,
            ),
          );
          for (const i of textIndexes) batch[i] = decodeText(batch[i]!);
          yield batch;
        }
      } catch (error) {
        if (error instanceof FeaturelogError) throw error;
        throw new FeaturelogError(
          'ENTITY_FILE_INVALID',
          `entity file ${path} cannot be decoded: ${(error as Error).message}`,
          { cause: error },
        );
      } finally {
        await reading.close();
      }
    },
    async *rows() {
      const reading = await open(path, 'r');
      try {
        const buffer = await parquetFileBuffer(reading);
        let rowStart = 0;
        for (const group of metadata.row_groups) {
          const rowEnd = rowStart + Number(group.num_rows);
          let rows: unknown[][] = [];
          await parquetRead({
            file: buffer,
            metadata,
            rowStart,
            rowEnd,
            columns: columns.map((column) => column.name),
            compressors: { ZSTD: (bytes: Uint8Array) => new Uint8Array(zstdDecompressSync(bytes)) },
            parsers: MICROS_PARSERS,
            utf8: false,
            onComplete: (decoded: unknown[][]) => {
              rows = decoded;
            },
          });
          rowStart = rowEnd;
          for (const row of rows) for (const i of textIndexes) row[i] = decodeText([row[i]])[0];
          if (rows.length > 0) yield rows;
        }
      } catch (error) {
        if (error instanceof FeaturelogError) throw error;
        throw new FeaturelogError(
          'ENTITY_FILE_INVALID',
          `entity file ${path} cannot be decoded: ${(error as Error).message}`,
          {
            cause: error,
          },
        );
      } finally {
        await reading.close();
      }
    },
  };
}

const UTF8 = new TextDecoder();

/** A column parquetColumnType calls text that hyparquet, with utf8 off, reads as bytes (ENUM). */
function isUndecodedText({ element, children }: SchemaNode): boolean {
  if (children.length > 0 || (element.type !== 'BYTE_ARRAY' && element.type !== 'FIXED_LEN_BYTE_ARRAY')) return false;
  const logical = element.logical_type?.type;
  return logical === 'ENUM' || (element.converted_type === 'ENUM' && logical === undefined);
}

/** Every Parquet time type becomes epoch microseconds, the domain's unit. */
export const MICROS_PARSERS = {
  timestampFromMilliseconds: (millis: bigint) => Number(millis) * 1000,
  timestampFromMicroseconds: (micros: bigint) => Number(micros),
  // Floor, not round: a nanosecond timestamp never moves into its own future.
  timestampFromNanoseconds: (nanos: bigint) => Number(nanos >= 0n ? nanos / 1000n : (nanos - 999n) / 1000n),
  dateFromDays: (days: number) => days * 86_400_000_000,
};

export interface SchemaNode {
  element: {
    name: string;
    type?: string;
    converted_type?: string;
    logical_type?: { type: string };
  };
  children: SchemaNode[];
}

/** The domain type a Parquet column's values have once read; undefined for what only text can carry. */
export function parquetColumnType(node: SchemaNode): ValueType | undefined {
  const { element } = node;
  const logical = element.logical_type?.type;
  if (logical === 'LIST' || element.converted_type === 'LIST') {
    const leaf = node.children[0]?.children[0] ?? node.children[0];
    const inner = leaf && leaf.children.length === 0 ? scalarType(leaf) : undefined;
    return inner ? parseValueType(`list<${inner}>`) : undefined;
  }
  if (node.children.length > 0) return undefined;
  return scalarType(node);
}

function scalarType({ element }: SchemaNode): ScalarType | undefined {
  const logical = element.logical_type?.type;
  const converted = element.converted_type;
  if (logical === 'TIMESTAMP' || converted?.startsWith('TIMESTAMP') || logical === 'DATE' || converted === 'DATE') {
    return 'timestamp';
  }
  if (logical === 'DECIMAL' || converted === 'DECIMAL') return 'float64';
  switch (element.type) {
    case 'BOOLEAN':
      return 'bool';
    case 'INT32':
      return 'int32';
    case 'INT64':
      return 'int64';
    case 'INT96':
      return 'timestamp';
    case 'FLOAT':
      return 'float32';
    case 'DOUBLE':
      return 'float64';
    case 'BYTE_ARRAY':
    case 'FIXED_LEN_BYTE_ARRAY':
      return logical === 'STRING' ||
        logical === 'JSON' ||
        logical === 'ENUM' ||
        converted === 'UTF8' ||
        converted === 'JSON' ||
        converted === 'ENUM'
        ? 'string'
        : 'bytes';
    default:
      return undefined;
  }
}
