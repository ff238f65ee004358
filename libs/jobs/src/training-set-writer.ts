import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { FeaturelogError, listElementType, type FeatureValue, type ValueType } from '@featurelog/domain';
import { parquetColumnElements, toParquetValue } from '@featurelog/offline-store';
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

/** hyparquet-writer's own SNAPPY compressor (it exports none; a writer holds it). */
const builtinSnappy = (
  new ParquetWriter({ writer: new ByteWriter(16), schema: [{ name: 'root', num_children: 0 }] }) as unknown as {
    compressors: { SNAPPY: (input: Uint8Array) => Uint8Array };
  }
).compressors.SNAPPY;

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

/** The parts of hyparquet-writer's ParquetWriter that a row group encoded elsewhere is added to. */
interface ParquetWriterInternals {
  row_groups: RowGroup[];
  pendingIndexes: EncodedRowGroup['indexes'];
  num_rows: bigint;
}

/** One row group as Parquet bytes (as if at offset 4 of a file) and its footer metadata. */
export interface EncodedRowGroup {
  bytes: Uint8Array;
  rowGroup: RowGroup;
  /** Per column chunk: what hyparquet-writer writes page indexes from at the end of the file. */
  indexes: { chunk: RowGroup['columns'][number]; offsetIndex?: { page_locations: { offset: bigint }[] } }[];
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
  const columnData = columns.map((column, c) => {
    const source = data[c]!;
    const values = new Array<unknown>(rows);
    if ('numbers' in source) {
      for (let i = 0; i < rows; i++)
        values[i] = source.present[i] === 1 ? toParquet(column.type, source.numbers[i]) : null;
    } else {
      for (let i = 0; i < rows; i++) values[i] = toParquet(column.type, source.values[i]);
    }
    return { name: column.name, data: values };
  });
  void writer.write({ columnData, rowGroupSize: rows });
  const internals = writer as unknown as ParquetWriterInternals;
  return {
    // A copy of the used part: the (larger) buffer it was written in is not held while the group waits.
    bytes: new Uint8Array(sink.buffer.slice(GROUP_START, sink.index)),
    rowGroup: internals.row_groups[0]!,
    indexes: internals.pendingIndexes,
  };
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
    const internals = this.writer as unknown as ParquetWriterInternals;
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
