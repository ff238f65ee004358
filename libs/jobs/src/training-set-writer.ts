import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { FeaturelogError, listElementType, type FeatureValue, type ValueType } from '@featurelog/domain';
import {
  builtinSnappy,
  parquetColumnElements,
  toParquetValue,
  writePageHeader,
  writerInternals,
  writeRleBitPackedHybrid,
  type PendingIndex,
} from '@featurelog/offline-store';
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
import type { RowGroup } from 'hyparquet';

/** Where a row group starts in a file of its own: after the 4-byte magic. */
const GROUP_START = 4;

/** The same file layout whether a row group is encoded here or on a worker thread. */
function writerOptions(columns: readonly TrainingSetColumn[]) {
  return {
    schema: [
      { name: 'root', num_children: columns.length },
      ...columns.flatMap((column) => parquetColumnElements(column.name, column.type, true)),
    ],
    codec: 'SNAPPY' as const,
    compressors: { SNAPPY: adaptiveSnappy },
    createdBy: 'featurelog jobs (hyparquet-writer)',
  };
}

const SAMPLE_BYTES = 8192;

/**
 * SNAPPY that does not spend time on what does not compress: a page whose first 8 KiB the compressor cannot
 * shrink by a tenth (random doubles, hashes) is stored as snappy literals — still a valid SNAPPY stream that
 * every reader decodes — instead of being searched for matches it does not have.
 */
function adaptiveSnappy(input: Uint8Array): Uint8Array {
  if (input.length > 4 * SAMPLE_BYTES) {
    const sample = builtinSnappy(input.subarray(0, SAMPLE_BYTES));
    if (sample.length > SAMPLE_BYTES * 0.9) return snappyLiterals(input);
  }
  return builtinSnappy(input);
}

/** A raw snappy stream of literals only: the length as a varint, then 64 KiB literal elements. */
export function snappyLiterals(input: Uint8Array): Uint8Array {
  const pieces = Math.ceil(input.length / 65536);
  const out = new Uint8Array(5 + pieces * 3 + input.length);
  let at = 0;
  for (let length = input.length; ; length = Math.floor(length / 128)) {
    if (length < 128) {
      out[at++] = length;
      break;
    }
    out[at++] = (length & 0x7f) | 0x80;
  }
  for (let start = 0; start < input.length; start += 65536) {
    const length = Math.min(65536, input.length - start);
    const n = length - 1;
    if (n < 60) out[at++] = n << 2;
    else if (n < 256) {
      out[at++] = 60 << 2;
      out[at++] = n;
    } else {
      out[at++] = 61 << 2;
      out[at++] = n & 0xff;
      out[at++] = n >>> 8;
    }
    out.set(input.subarray(start, start + length), at);
    at += length;
  }
  return out.subarray(0, at);
}

/** One row group as Parquet bytes (as if at offset 4 of a file) and its footer metadata. */
export interface EncodedRowGroup {
  bytes: Uint8Array;
  rowGroup: RowGroup;
  /** Per column chunk: what hyparquet-writer writes page indexes from at the end of the file. */
  indexes: PendingIndex[];
}

/** A training-set column of a row group: numbers (with presence) travel as typed arrays. */
export type RowGroupColumn = { numbers: Float64Array; present: Uint8Array } | { values: unknown[] };

/**
 * Encodes one row group of `columns` (domain representation) as Parquet, for
 * {@link TrainingSetWriter.appendEncoded}; runs on any thread.
 */
export function encodeRowGroup(
  columns: readonly TrainingSetColumn[],
  data: readonly RowGroupColumn[],
  rows: number,
): EncodedRowGroup {
  // Sized for the uncompressed pages (about 9 bytes a value), so the buffer is not regrown and copied while writing.
  const sink = new ByteWriter(Math.max(1 << 16, rows * columns.length * 9));
  const writer = new ParquetWriter({ writer: sink, ...writerOptions(columns) });
  const internals = writerInternals(writer);
  const chunks: RowGroup['columns'] = [];
  for (let c = 0; c < columns.length; c++) {
    const column = columns[c]!;
    const numeric = numericColumn(column.type, data[c]!, rows);
    if (numeric !== undefined) {
      const { chunk, offsetIndex } = writeNumericChunk(sink, column, numeric, rows);
      chunks.push(chunk);
      internals.pendingIndexes.push({ chunk, ...(offsetIndex === undefined ? {} : { offsetIndex }) });
      continue;
    }
    // Anything else (strings, lists, bytes, numbers a fast path would not take as they are) is encoded by
    // hyparquet-writer, one column at a time into the same sink; its columns are gathered into one group.
    const source = data[c]!;
    const values = new Array<unknown>(rows);
    if ('numbers' in source) {
      for (let i = 0; i < rows; i++)
        values[i] = source.present[i] === 1 ? toParquet(column.type, source.numbers[i]) : null;
    } else {
      for (let i = 0; i < rows; i++) values[i] = toParquet(column.type, source.values[i]);
    }
    void writer.write({ columnData: [{ name: column.name, data: values }], rowGroupSize: rows });
    chunks.push(...internals.row_groups.pop()!.columns);
  }
  let totalByteSize = 0n;
  for (const chunk of chunks) totalByteSize += chunk.meta_data?.total_uncompressed_size ?? 0n;
  return {
    // A copy of the used part: the (larger) buffer it was written in is not held while the group waits.
    bytes: new Uint8Array(sink.buffer.slice(GROUP_START, sink.index)),
    rowGroup: {
      columns: chunks,
      total_byte_size: totalByteSize,
      num_rows: BigInt(rows),
      total_compressed_size: BigInt(sink.offset - GROUP_START),
    },
    indexes: internals.pendingIndexes,
  };
}

/** Physical types of the scalar numeric columns written without hyparquet-writer. */
const NUMERIC_PHYSICAL = {
  float64: 'DOUBLE',
  float32: 'FLOAT',
  int32: 'INT32',
  int64: 'INT64',
  timestamp: 'INT64',
} as const;

type NumericType = keyof typeof NUMERIC_PHYSICAL;

/**
 * Whether values of `type` travel as numbers ({@link RowGroupColumn} `numbers`, timestamps as epoch µs):
 * the scalar numeric types, which the writer encodes straight from numbers.
 */
export function isNumberType(type: ValueType): boolean {
  return Object.hasOwn(NUMERIC_PHYSICAL, type);
}

/** Values of a page: at most 1 MiB of 8-byte values, as hyparquet-writer's default page size. */
const ROWS_PER_PAGE = 131_072;

/**
 * A numeric column as numbers and presence, when every present value can be written as it is (a float, an
 * int32 in range, a safe integer — number or bigint — for int64 and timestamps); otherwise undefined, and the column takes the
 * general path, which refuses bad values with its own errors.
 */
function numericColumn(
  type: ValueType,
  source: RowGroupColumn,
  rows: number,
): { type: NumericType; numbers: ArrayLike<number>; present: Uint8Array } | undefined {
  if (!(type in NUMERIC_PHYSICAL)) return undefined;
  const numericType = type as NumericType;
  const integer = numericType !== 'float64' && numericType !== 'float32';
  if ('numbers' in source) {
    const { numbers, present } = source;
    if (integer) {
      for (let i = 0; i < rows; i++) {
        if (present[i] === 1 && !fitsInteger(numericType, numbers[i]!)) return undefined;
      }
    }
    return { type: numericType, numbers, present };
  }
  const numbers = new Float64Array(rows);
  const present = new Uint8Array(rows);
  for (let i = 0; i < rows; i++) {
    const raw = source.values[i];
    if (raw === null || raw === undefined) continue;
    // 64-bit integers of a Parquet entity file arrive as bigint: exact as numbers when safe.
    const value =
      typeof raw === 'bigint' && (numericType === 'int64' || numericType === 'timestamp') ? Number(raw) : raw;
    if (typeof value !== 'number' || (integer && !fitsInteger(numericType, value))) return undefined;
    numbers[i] = value;
    present[i] = 1;
  }
  return { type: numericType, numbers, present };
}

function fitsInteger(type: NumericType, value: number): boolean {
  return type === 'int32'
    ? Number.isInteger(value) && value >= -2147483648 && value <= 2147483647
    : Number.isSafeInteger(value);
}

/**
 * Writes a flat OPTIONAL numeric column chunk straight from numbers: data pages v2 with RLE definition
 * levels and PLAIN values (no bigint per int64 value, no dictionary trial, no min/max statistics), SNAPPY
 * as the other columns.
 */
function writeNumericChunk(
  sink: ByteWriter,
  column: TrainingSetColumn,
  { type, numbers, present }: { type: NumericType; numbers: ArrayLike<number>; present: Uint8Array },
  rows: number,
): { chunk: RowGroup['columns'][number]; offsetIndex?: { page_locations: PageLocation[] } } {
  const physical = NUMERIC_PHYSICAL[type];
  const width = physical === 'DOUBLE' || physical === 'INT64' ? 8 : 4;
  const chunkStart = sink.offset;
  const locations: PageLocation[] = [];
  let uncompressed = 0;
  let nulls = 0;
  for (let start = 0; start < rows || (rows === 0 && start === 0); start += ROWS_PER_PAGE) {
    const end = Math.min(rows, start + ROWS_PER_PAGE);
    const levels = new ByteWriter(Math.max(64, (end - start) >> 2));
    writeRleBitPackedHybrid(levels, present.subarray(start, end), 1);
    let count = 0;
    for (let i = start; i < end; i++) count += present[i]!;
    const page = new Uint8Array(count * width);
    const view = new DataView(page.buffer);
    let at = 0;
    for (let i = start; i < end; i++) {
      if (present[i] !== 1) continue;
      const value = numbers[i]!;
      if (physical === 'DOUBLE') view.setFloat64(at, value, true);
      else if (physical === 'FLOAT') view.setFloat32(at, value, true);
      else if (physical === 'INT32') view.setInt32(at, value, true);
      else {
        // A safe integer as two's-complement halves: floor division keeps the sign in the high word.
        const high = Math.floor(value / 4294967296);
        view.setUint32(at, value - high * 4294967296, true);
        view.setInt32(at + 4, high, true);
      }
      at += width;
    }
    const compressed = adaptiveSnappy(page);
    const pageNulls = end - start - count;
    nulls += pageNulls;
    const pageStart = sink.offset;
    writePageHeader(sink, {
      type: 'DATA_PAGE_V2',
      uncompressed_page_size: levels.offset + page.length,
      compressed_page_size: levels.offset + compressed.length,
      data_page_header_v2: {
        num_values: end - start,
        num_nulls: pageNulls,
        num_rows: end - start,
        encoding: 'PLAIN',
        definition_levels_byte_length: levels.offset,
        repetition_levels_byte_length: 0,
        is_compressed: true,
      },
    });
    const headerSize = sink.offset - pageStart;
    sink.appendBytes(levels.getBytes());
    sink.appendBytes(compressed);
    uncompressed += headerSize + levels.offset + page.length;
    locations.push({
      offset: BigInt(pageStart),
      compressed_page_size: sink.offset - pageStart,
      first_row_index: BigInt(start),
    });
  }
  const chunk: RowGroup['columns'][number] = {
    file_offset: BigInt(chunkStart),
    meta_data: {
      type: physical,
      encodings: ['PLAIN', 'RLE'],
      path_in_schema: [column.name],
      codec: 'SNAPPY',
      num_values: BigInt(rows),
      total_uncompressed_size: BigInt(uncompressed),
      total_compressed_size: BigInt(sink.offset - chunkStart),
      data_page_offset: BigInt(chunkStart),
      statistics: { null_count: BigInt(nulls) },
    },
  };
  return locations.length > 1 ? { chunk, offsetIndex: { page_locations: locations } } : { chunk };
}

interface PageLocation {
  offset: bigint;
  compressed_page_size: number;
  first_row_index: bigint;
}

export interface TrainingSetColumn {
  name: string;
  type: ValueType;
}

/**
 * Writes a training set as Parquet: row groups encoded by {@link encodeRowGroup} (on any thread) are
 * appended in order to a hidden temporary file next to the target, which {@link finish} renames into
 * place: a failed export leaves no partial file behind.
 * Timestamps are TIMESTAMP(MICROS, UTC), which pandas/pyarrow read as timestamp[us, tz=UTC]; every
 * column is nullable; lists are standard three-level LISTs.
 */
export class TrainingSetWriter {
  private readonly writer: ParquetWriter;
  private readonly sink: ByteWriter;
  private readonly fd: number;
  private readonly temporary: string;
  private readonly columns: TrainingSetColumn[];
  private closed = false;
  rowsWritten = 0;

  constructor(
    readonly path: string,
    columns: readonly TrainingSetColumn[],
  ) {
    this.columns = [...columns];
    this.temporary = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`);
    try {
      this.fd = openSync(this.temporary, 'wx');
    } catch (error) {
      throw new FeaturelogError(
        'EXPORT_OUTPUT_UNWRITABLE',
        `cannot create ${this.temporary}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    const fd = this.fd;
    const sink = new ByteWriter();
    const grow = sink.ensure.bind(sink);
    const flush = () => {
      let written = 0;
      const bytes = new Uint8Array(sink.buffer, 0, sink.index);
      while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
      sink.index = 0;
    };
    sink.ensure = (size: number) => {
      if (sink.index > 1 << 20) flush();
      grow(size);
    };
    sink.finish = flush;
    this.sink = sink;
    this.writer = new ParquetWriter({ writer: sink, ...writerOptions(this.columns) });
  }

  get columnTypes(): readonly TrainingSetColumn[] {
    return this.columns;
  }

  /**
   * Appends a row group encoded elsewhere by {@link encodeRowGroup} (e.g. on a worker thread), in file
   * order: its bytes go to the file and its metadata, moved to where the bytes land, to the footer.
   */
  appendEncoded(group: EncodedRowGroup): void {
    const delta = BigInt(this.sink.offset - GROUP_START);
    for (const column of group.rowGroup.columns) {
      column.file_offset += delta;
      const meta = column.meta_data!;
      meta.data_page_offset += delta;
      if (meta.dictionary_page_offset !== undefined) meta.dictionary_page_offset += delta;
    }
    for (const index of group.indexes) {
      for (const location of index.offsetIndex?.page_locations ?? []) location.offset += delta;
    }
    this.sink.appendBytes(group.bytes);
    const internals = writerInternals(this.writer);
    internals.row_groups.push(group.rowGroup);
    internals.pendingIndexes.push(...group.indexes);
    internals.num_rows += group.rowGroup.num_rows;
    this.rowsWritten += Number(group.rowGroup.num_rows);
  }

  /** Writes the footer, fsyncs and renames the file into place. */
  finish(): void {
    this.writer.finish();
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.closed = true;
    renameSync(this.temporary, this.path);
  }

  /** Removes the temporary file after a failure. */
  abort(): void {
    if (!this.closed) closeSync(this.fd);
    this.closed = true;
    rmSync(this.temporary, { force: true });
  }
}

/**
 * Segment values map as in segments; the entity file's extra columns are looser: a string column
 * takes any value as text, and a list column anything that is not a list as null.
 */
function toParquet(type: ValueType, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number') {
    if (type === 'float64' || type === 'float32' || type === 'int32') return value;
    if ((type === 'int64' || type === 'timestamp') && Number.isSafeInteger(value)) return BigInt(value);
  }
  if (type === 'string' && typeof value !== 'string') {
    return typeof value === 'object' ? JSON.stringify(value) : String(value);
  }
  if (listElementType(type) !== undefined && !Array.isArray(value)) return null;
  return toParquetValue(type, value as FeatureValue, 'EXPORT_VALUE_INVALID');
}
