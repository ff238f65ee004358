import { open, type FileHandle } from 'node:fs/promises';
import { zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { FeaturelogError, type FeatureValue, type ValueType } from '@featurelog/domain';
import { parquetMetadataAsync, parquetReadObjects, type SchemaElement } from 'hyparquet';
import { parquetFileBuffer } from './parquet-file-buffer';
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
import type { SegmentByteSink, SegmentCodec, SegmentWriteOptions } from './segment-codec.port';
import {
  SEGMENT_SYSTEM_COLUMNS as SYS,
  type SegmentColumn,
  type SegmentRow,
  type SegmentSchema,
} from './segment-schema';

/** Key of the file-level metadata entry that carries the segment schema. */
import { fromParquetValue, parquetColumnElements, toParquetValue } from './parquet-columns';

export const SEGMENT_SCHEMA_METADATA_KEY = 'featurelog.segment.schema';

export interface HyparquetSegmentCodecOptions {
  /** ZSTD (Node's zlib) compresses best in the bench; SNAPPY is the widest-read fallback. */
  compression?: 'ZSTD' | 'SNAPPY';
  /** Rows per row group when the caller does not say. */
  rowGroupSize?: number;
  /** Bytes buffered before they are handed to the sink inside a row group. */
  flushBytes?: number;
}

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
      return schemaOf(path, await parquetMetadataAsync(await parquetFileBuffer(handle)));
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
    const file = await parquetFileBuffer(handle);
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
    element: parquetColumnElements(name, type, nullable),
    toParquet: (row) => toParquetValue(type, row[field] as FeatureValue, 'SEGMENT_ROW_INVALID'),
    fromParquet: (row, value) => {
      (row as unknown as Record<string, FeatureValue>)[field] = fromParquetValue(type, value);
    },
  });
  return [
    ...schema.joinKeys.map((key): FileColumn => ({
      name: key.name,
      element: parquetColumnElements(key.name, key.type, false),
      toParquet: (row) => toParquetValue(key.type, row.joinKeys[key.name] ?? null, 'SEGMENT_ROW_INVALID'),
      fromParquet: (row, value) => {
        row.joinKeys[key.name] = fromParquetValue(key.type, value);
      },
    })),
    system(SYS.eventTimestamp, 'timestamp', false, 'eventTimestamp'),
    system(SYS.createdTimestamp, 'timestamp', true, 'createdTimestamp'),
    system(SYS.partition, 'int32', false, 'partition'),
    system(SYS.offset, 'int64', false, 'offset'),
    system(SYS.appendTime, 'timestamp', false, 'appendTime'),
    ...(schema.changes === true ? changeColumns() : []),
    ...schema.features.map((feature: SegmentColumn): FileColumn => ({
      name: feature.name,
      element: parquetColumnElements(feature.name, feature.type, true),
      toParquet: (row) => toParquetValue(feature.type, row.features[feature.name] ?? null, 'SEGMENT_ROW_INVALID'),
      fromParquet: (row, value) => {
        row.features[feature.name] = fromParquetValue(feature.type, value);
      },
    })),
  ];
}

/** __source_position and __deleted (SegmentSchema.changes): a row reads them back only when set, as written. */
function changeColumns(): FileColumn[] {
  return [
    {
      name: SYS.sourcePosition,
      element: parquetColumnElements(SYS.sourcePosition, 'string', true),
      toParquet: (row) => row.sourcePosition ?? null,
      fromParquet: (row, value) => {
        if (typeof value === 'string') row.sourcePosition = value;
        else if (value instanceof Uint8Array) row.sourcePosition = new TextDecoder().decode(value);
      },
    },
    {
      name: SYS.deleted,
      element: parquetColumnElements(SYS.deleted, 'bool', false),
      toParquet: (row) => row.deleted === true,
      fromParquet: (row, value) => {
        if (value === true) row.deleted = true;
      },
    },
  ];
}

function parquetSchema(columns: FileColumn[]): SchemaElement[] {
  return [{ name: 'root', num_children: columns.length }, ...columns.flatMap((column) => column.element)];
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
