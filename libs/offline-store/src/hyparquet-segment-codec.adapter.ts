import { open, type FileHandle } from 'node:fs/promises';
import { zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import {
  FeaturelogError,
  listElementType,
  type FeatureValue,
  type ScalarType,
  type ValueType,
} from '@featurelog/domain';
import { parquetMetadataAsync, parquetReadObjects, type AsyncBuffer, type SchemaElement } from 'hyparquet';
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
import type { SegmentByteSink, SegmentCodec, SegmentWriteOptions } from './segment-codec.port';
import {
  SEGMENT_SYSTEM_COLUMNS as SYS,
  type SegmentColumn,
  type SegmentRow,
  type SegmentSchema,
} from './segment-schema';

/** Key of the file-level metadata entry that carries the segment schema. */
export const SEGMENT_SCHEMA_METADATA_KEY = 'featurelog.segment.schema';

export interface HyparquetSegmentCodecOptions {
  /** ZSTD (Node's zlib) compresses best in the bench; SNAPPY is the widest-read fallback. */
  compression?: 'ZSTD' | 'SNAPPY';
  /** Rows per row group when the caller does not say. */
  rowGroupSize?: number;
  /** Bytes buffered before they are handed to the sink inside a row group. */
  flushBytes?: number;
}

const MICROS_UTC = { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MICROS' } as const;

/**
 * Segment codec on hyparquet-writer (write) and hyparquet (read): plain JavaScript, exact round trip of
 * every value type, timestamps as TIMESTAMP(MICROS, isAdjustedToUTC=true) that DuckDB, pyarrow and Spark
 * read as timestamps. Chosen by bench/parquet (see its README).
 */
export class HyparquetSegmentCodec implements SegmentCodec {
  readonly extension = '.parquet';
  private readonly compression: 'ZSTD' | 'SNAPPY';
  private readonly rowGroupSize: number;
  private readonly flushBytes: number;

  constructor({
    compression = 'ZSTD',
    rowGroupSize = 65_536,
    flushBytes = 1 << 20,
  }: HyparquetSegmentCodecOptions = {}) {
    this.compression = compression;
    this.rowGroupSize = rowGroupSize;
    this.flushBytes = flushBytes;
  }

  async write(
    schema: SegmentSchema,
    batches: AsyncIterable<SegmentRow[]> | Iterable<SegmentRow[]>,
    sink: SegmentByteSink,
    { rowGroupSize = this.rowGroupSize }: SegmentWriteOptions = {},
  ): Promise<{ rowCount: number }> {
    const columns = fileColumns(schema);
    const writer = new ParquetWriter({
      writer: sinkWriter(sink, this.flushBytes),
      schema: parquetSchema(columns),
      codec: this.compression,
      compressors: { ZSTD: (bytes) => zstdCompressSync(bytes) },
      kvMetadata: [{ key: SEGMENT_SCHEMA_METADATA_KEY, value: JSON.stringify(schema) }],
      createdBy: 'featurelog offline-store (hyparquet-writer)',
    });
    let pending: SegmentRow[] = [];
    let rowCount = 0;
    const flush = async (rows: SegmentRow[]) => {
      const columnData = columns.map((column) => ({ name: column.name, data: rows.map(column.toParquet) }));
      await writer.write({ columnData, rowGroupSize });
      rowCount += rows.length;
    };
    for await (const batch of batches) {
      for (const row of batch) {
        pending.push(row);
        if (pending.length === rowGroupSize) {
          await flush(pending);
          pending = [];
        }
      }
    }
    if (pending.length > 0) await flush(pending);
    await writer.finish();
    return { rowCount };
  }

  async readSchema(path: string): Promise<SegmentSchema> {
    const handle = await open(path, 'r');
    try {
      return schemaOf(path, await parquetMetadataAsync(await fileBuffer(handle)));
    } finally {
      await handle.close();
    }
  }

  async *read(path: string): AsyncIterable<SegmentRow[]> {
    const handle = await open(path, 'r');
    try {
      yield* this.readOpen(path, handle);
    } finally {
      await handle.close();
    }
  }

  private async *readOpen(path: string, handle: FileHandle): AsyncIterable<SegmentRow[]> {
    const file = await fileBuffer(handle);
    const metadata = await parquetMetadataAsync(file);
    const columns = fileColumns(schemaOf(path, metadata));
    let rowStart = 0;
    for (const group of metadata.row_groups) {
      const rowEnd = rowStart + Number(group.num_rows);
      const objects = await parquetReadObjects({
        file,
        metadata,
        rowStart,
        rowEnd,
        utf8: false,
        compressors: { ZSTD: (bytes: Uint8Array) => new Uint8Array(zstdDecompressSync(bytes)) },
        parsers: { timestampFromMicroseconds: (micros: bigint) => Number(micros) },
      });
      rowStart = rowEnd;
      yield objects.map((object) => {
        const row: SegmentRow = {
          joinKeys: {},
          eventTimestamp: 0,
          createdTimestamp: null,
          partition: 0,
          offset: 0,
          appendTime: 0,
          features: {},
        };
        for (const column of columns) column.fromParquet(row, object[column.name]);
        return row;
      });
    }
  }
}

interface FileColumn {
  name: string;
  element: SchemaElement[];
  toParquet: (row: SegmentRow) => unknown;
  fromParquet: (row: SegmentRow, value: unknown) => void;
}

function fileColumns(schema: SegmentSchema): FileColumn[] {
  const system = (name: string, type: ValueType, nullable: boolean, field: keyof SegmentRow): FileColumn => ({
    name,
    element: schemaElements(name, type, nullable),
    toParquet: (row) => toParquetValue(type, row[field] as FeatureValue),
    fromParquet: (row, value) => {
      (row as unknown as Record<string, FeatureValue>)[field] = fromParquetValue(type, value);
    },
  });
  return [
    ...schema.joinKeys.map((key): FileColumn => ({
      name: key.name,
      element: schemaElements(key.name, key.type, false),
      toParquet: (row) => toParquetValue(key.type, row.joinKeys[key.name] ?? null),
      fromParquet: (row, value) => {
        row.joinKeys[key.name] = fromParquetValue(key.type, value);
      },
    })),
    system(SYS.eventTimestamp, 'timestamp', false, 'eventTimestamp'),
    system(SYS.createdTimestamp, 'timestamp', true, 'createdTimestamp'),
    system(SYS.partition, 'int32', false, 'partition'),
    system(SYS.offset, 'int64', false, 'offset'),
    system(SYS.appendTime, 'timestamp', false, 'appendTime'),
    ...schema.features.map((feature: SegmentColumn): FileColumn => ({
      name: feature.name,
      element: schemaElements(feature.name, feature.type, true),
      toParquet: (row) => toParquetValue(feature.type, row.features[feature.name] ?? null),
      fromParquet: (row, value) => {
        row.features[feature.name] = fromParquetValue(feature.type, value);
      },
    })),
  ];
}

function parquetSchema(columns: FileColumn[]): SchemaElement[] {
  return [{ name: 'root', num_children: columns.length }, ...columns.flatMap((column) => column.element)];
}

function schemaElements(name: string, type: ValueType, nullable: boolean): SchemaElement[] {
  const repetition_type = nullable ? 'OPTIONAL' : 'REQUIRED';
  const element = listElementType(type);
  if (element === undefined) return [{ name, repetition_type, ...scalarElement(type as ScalarType) }];
  // The standard three-level LIST, so that other readers see list<T> rather than a bare repeated field.
  return [
    { name, repetition_type, converted_type: 'LIST', logical_type: { type: 'LIST' }, num_children: 1 },
    { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
    { name: 'element', repetition_type: 'OPTIONAL', ...scalarElement(element) },
  ];
}

function scalarElement(type: ScalarType): Pick<SchemaElement, 'type' | 'converted_type' | 'logical_type'> {
  switch (type) {
    case 'bool':
      return { type: 'BOOLEAN' };
    case 'int32':
      return { type: 'INT32' };
    case 'int64':
      return { type: 'INT64' };
    case 'float32':
      return { type: 'FLOAT' };
    case 'float64':
      return { type: 'DOUBLE' };
    case 'string':
      return { type: 'BYTE_ARRAY', converted_type: 'UTF8', logical_type: { type: 'STRING' } };
    case 'bytes':
      return { type: 'BYTE_ARRAY' };
    case 'timestamp':
      return { type: 'INT64', converted_type: 'TIMESTAMP_MICROS', logical_type: MICROS_UTC };
  }
}

/** 64-bit integers travel as bigint inside the parquet libraries and as safe-integer numbers outside. */
function toParquetValue(type: ValueType, value: FeatureValue): unknown {
  if (value === null || value === undefined) return null;
  const element = listElementType(type);
  if (element !== undefined) {
    if (!Array.isArray(value)) throw rowInvalid(`expected a list for ${type}, got ${typeof value}`);
    return value.map((item) => toParquetValue(element, item));
  }
  if (type === 'int64' || type === 'timestamp') {
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
      throw rowInvalid(`expected a safe integer for ${type}, got ${String(value)}`);
    }
    return BigInt(value);
  }
  return value;
}

function fromParquetValue(type: ValueType, value: unknown): FeatureValue {
  if (value === null || value === undefined) return null;
  const element = listElementType(type);
  if (element !== undefined) return (value as unknown[]).map((item) => fromParquetValue(element, item));
  if (typeof value === 'bigint') return Number(value);
  return value as FeatureValue;
}

/** Reads byte ranges of one open file, as hyparquet asks for them (footer first, then column chunks). */
async function fileBuffer(handle: FileHandle): Promise<AsyncBuffer> {
  const { size } = await handle.stat();
  return {
    byteLength: size,
    async slice(start: number, end = size): Promise<ArrayBuffer> {
      const bytes = new Uint8Array(end - start);
      const { bytesRead } = await handle.read(bytes, 0, bytes.length, start);
      if (bytesRead !== bytes.length) throw new Error(`short read: ${bytesRead} of ${bytes.length} bytes at ${start}`);
      return bytes.buffer;
    },
  };
}

function rowInvalid(message: string): FeaturelogError {
  return new FeaturelogError('SEGMENT_ROW_INVALID', message);
}

function schemaOf(path: string, metadata: { key_value_metadata?: { key: string; value?: string }[] }): SegmentSchema {
  const entry = metadata.key_value_metadata?.find((kv) => kv.key === SEGMENT_SCHEMA_METADATA_KEY);
  if (entry?.value === undefined) {
    throw new FeaturelogError('SEGMENT_CORRUPT', `${path} has no '${SEGMENT_SCHEMA_METADATA_KEY}' metadata`);
  }
  return JSON.parse(entry.value) as SegmentSchema;
}

/**
 * A hyparquet-writer Writer that hands its bytes to the sink whenever a row group ends or the buffer
 * passes `flushBytes`, so a segment never sits whole in memory. The sink consumes each chunk before
 * `write` returns (the buffer is reused).
 */
function sinkWriter(sink: SegmentByteSink, flushBytes: number): ByteWriter {
  const writer = new ByteWriter();
  const grow = writer.ensure.bind(writer);
  const flush = () => {
    if (writer.index === 0) return;
    sink.write(new Uint8Array(writer.buffer, 0, writer.index));
    writer.index = 0;
  };
  writer.ensure = (size: number) => {
    if (writer.index > flushBytes) flush();
    grow(size);
  };
  (writer as ByteWriter & { flush: () => void }).flush = flush;
  writer.finish = flush;
  return writer;
}
