/**
 * Segment write throughput: 1M rows of a 10-feature view through the compactor's path — Avro decode
 * (RowDecoder, schema resolution to the view's row schema), per-partition buffering and date split
 * (PartitionBuffer), sort into segment order, Parquet write with order/range checks, SHA-256 and fsync
 * (writeDatedSegments) — beside raw hyparquet-writer writing the same rows, already decoded and in
 * column arrays, with the same compression and row groups (the baseline: pure encoding cost).
 *
 *   node_modules/.bin/node -r @swc-node/register bench/export/segment-write.bench.ts
 *   BENCH_ROWS=200000 …   (default 1,000,000)
 *
 * Input records are built before timing starts; MB/s is of the Parquet bytes written, and of the Avro
 * bytes read for the compactor path.
 */
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zstdCompressSync } from 'node:zlib';
import Table3 from 'cli-table3';
import type { SchemaElement } from 'hyparquet';
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
import {
  evolveRegistry,
  initialRegistryState,
  topicNames,
  valueSubject,
  type EntityDefinition,
  type FeatureViewDefinition,
} from '@featurelog/domain';
import { avroType, encodeRow, LocalSchemaRegistry, RowDecoder, rowSchemaFor } from '@featurelog/avro';
import type { LogRecord } from '@featurelog/log';
import {
  HyparquetSegmentCodec,
  offlineViews,
  PartitionBuffer,
  SegmentRowReader,
  utcDate,
  writeDatedSegments,
  type SegmentRow,
} from '@featurelog/offline-store';
import { COMPACTOR_DEFAULTS } from '@featurelog/compactor';

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const PROJECT = 'bench';
const BATCH = 5_000;
const DAY0 = Date.UTC(2025, 0, 1) * 1000;

const entity: EntityDefinition = { name: 'driver', joinKeys: [{ name: 'driver_id', type: 'int64' }] };
const view: FeatureViewDefinition = {
  name: 'driver_stats',
  version: 1,
  entities: ['driver'],
  features: [
    { name: 'conv_rate', type: 'float64' },
    { name: 'acc_rate', type: 'float64' },
    { name: 'avg_speed', type: 'float64' },
    { name: 'rating', type: 'float64' },
    { name: 'trips_today', type: 'int64' },
    { name: 'trips_week', type: 'int64' },
    { name: 'minutes_online', type: 'int64' },
    { name: 'city', type: 'string' },
    { name: 'vehicle', type: 'string' },
    { name: 'premium', type: 'bool' },
  ],
  ttlSeconds: 0,
  online: false,
  offline: true,
};

function makeRow(i: number): Record<string, number | string | boolean | null> {
  const event = DAY0 + Math.floor((i / ROWS) * 2 * 86_400_000_000) - (i % 97) * 1_000_000;
  return {
    driver_id: (i * 7919) % 100_000,
    event_timestamp: event,
    created_timestamp: i % 4 === 0 ? null : event + 10,
    conv_rate: (i % 1000) / 1000,
    acc_rate: i % 13 === 0 ? null : (i % 777) / 777,
    avg_speed: 20 + (i % 60),
    rating: 3 + (i % 200) / 100,
    trips_today: i % 40,
    trips_week: i % 300,
    minutes_online: i % 1440,
    city: ['paris', 'lyon', 'nantes', 'lille'][i % 4]!,
    vehicle: i % 11 === 0 ? null : `v${i % 50}`,
    premium: i % 3 === 0,
  };
}

interface Measured {
  seconds: number;
  cpuSeconds: number;
  parquetBytes: number;
  files: number;
}

async function measure(run: () => Promise<{ parquetBytes: number; files: number }>): Promise<Measured> {
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  const result = await run();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const used = process.cpuUsage(cpu);
  return { seconds, cpuSeconds: (used.user + used.system) / 1e6, ...result };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'featurelog-segment-write-'));
  try {
    const schemas = await LocalSchemaRegistry.open({ directory: join(dir, 'schemas') });
    const topic = topicNames.features(PROJECT, view);
    const rowSchema = rowSchemaFor(view, [entity], PROJECT);
    const schemaId = await schemas.register(valueSubject(topic), rowSchema);
    const type = avroType(rowSchema);

    // Input: the records as the compactor receives them from the log.
    const records: LogRecord[] = [];
    let avroBytes = 0;
    for (let i = 0; i < ROWS; i++) {
      const value = encodeRow(schemaId, type, makeRow(i));
      avroBytes += value.length;
      records.push({ topic, partition: 0, offset: i, key: null, value, headers: {}, timestamp: Date.now() });
    }
    const state = evolveRegistry(
      initialRegistryState(),
      {
        applyId: 'bench',
        basedOnVersion: 0,
        appliedAt: 0,
        changes: [
          { op: 'upsert', kind: 'entity', name: entity.name, definition: entity },
          { op: 'upsert', kind: 'feature_view', name: view.name, definition: view },
        ],
      },
      0,
    );
    const offline = offlineViews(state, PROJECT).get(view.name)!;
    const codec = new HyparquetSegmentCodec();

    // Compactor path.
    const decodedForBaseline: SegmentRow[] = [];
    const compactorRoot = join(dir, 'compactor');
    const compactor = await measure(async () => {
      const reader = SegmentRowReader.open(offline, schemas, PROJECT);
      const decoder = new RowDecoder(schemas);
      const buffer = new PartitionBuffer(0, 0);
      let parquetBytes = 0;
      let files = 0;
      const flush = async () => {
        const written = await writeDatedSegments(codec, {
          root: compactorRoot,
          project: PROJECT,
          schema: reader.schema,
          inputs: buffer.drain(),
        });
        for (const segment of written) parquetBytes += segment.bytes;
        files += written.length;
      };
      for (let i = 0; i < records.length; i += BATCH) {
        const batch = records.slice(i, i + BATCH);
        const rows = await reader.read(decoder, batch, []);
        batch.forEach((record, j) => buffer.add(record.offset, rows[j]!, utcDate(record.timestamp * 1000)));
        if (buffer.rowCount >= COMPACTOR_DEFAULTS.maxRows) await flush();
      }
      await flush();
      return { parquetBytes, files };
    });

    // The same rows, decoded (outside the timing), for the baseline.
    const reader = SegmentRowReader.open(offline, schemas, PROJECT);
    const decoder = new RowDecoder(schemas);
    for (let i = 0; i < records.length; i += BATCH) {
      for (const row of await reader.read(decoder, records.slice(i, i + BATCH), [])) decodedForBaseline.push(row!);
    }
    const columns = [
      {
        name: 'driver_id',
        element: { type: 'INT64', repetition_type: 'REQUIRED' },
        get: (r: SegmentRow) => BigInt(r.joinKeys.driver_id as number),
      },
      { name: 'event_timestamp', element: micros('REQUIRED'), get: (r: SegmentRow) => BigInt(r.eventTimestamp) },
      {
        name: 'created_timestamp',
        element: micros('OPTIONAL'),
        get: (r: SegmentRow) => (r.createdTimestamp === null ? null : BigInt(r.createdTimestamp)),
      },
      {
        name: '__partition',
        element: { type: 'INT32', repetition_type: 'REQUIRED' },
        get: (r: SegmentRow) => r.partition,
      },
      {
        name: '__offset',
        element: { type: 'INT64', repetition_type: 'REQUIRED' },
        get: (r: SegmentRow) => BigInt(r.offset),
      },
      { name: '__append_time', element: micros('REQUIRED'), get: (r: SegmentRow) => BigInt(r.appendTime) },
      ...view.features.map((feature) => ({
        name: feature.name,
        element: { ...physical(feature.type), repetition_type: 'OPTIONAL' },
        get: (r: SegmentRow) => {
          const value = r.features[feature.name] ?? null;
          return feature.type === 'int64' && value !== null ? BigInt(value as number) : value;
        },
      })),
    ];
    const baselinePath = join(dir, 'raw.parquet');
    const raw = await measure(async () => {
      const fd = openSync(baselinePath, 'w');
      const out = new ByteWriter();
      const grow = out.ensure.bind(out);
      const flushBytes = () => {
        writeSync(fd, new Uint8Array(out.buffer, 0, out.index));
        out.index = 0;
      };
      out.ensure = (size: number) => {
        if (out.index > 1 << 20) flushBytes();
        grow(size);
      };
      out.finish = flushBytes;
      const writer = new ParquetWriter({
        writer: out,
        schema: [
          { name: 'root', num_children: columns.length },
          ...columns.map((c) => ({ name: c.name, ...c.element })),
        ] as SchemaElement[],
        codec: 'ZSTD',
        compressors: { ZSTD: (bytes: Uint8Array) => zstdCompressSync(bytes) },
      });
      for (let i = 0; i < decodedForBaseline.length; i += COMPACTOR_DEFAULTS.rowGroupSize) {
        const chunk = decodedForBaseline.slice(i, i + COMPACTOR_DEFAULTS.rowGroupSize);
        await writer.write({
          columnData: columns.map((c) => ({ name: c.name, data: chunk.map(c.get) })),
          rowGroupSize: COMPACTOR_DEFAULTS.rowGroupSize,
        });
      }
      await writer.finish();
      closeSync(fd);
      return { parquetBytes: statSync(baselinePath).size, files: 1 };
    });

    const mb = (bytes: number) => bytes / 2 ** 20;
    const table = new Table3({
      head: ['case', 'files', 'wall s', 'CPU s', 'rows/s', 'Parquet MB', 'Parquet MB/s', 'Avro in MB/s', 'vs raw'],
    });
    for (const [name, m, avro] of [
      ['compactor path (decode + buffer + sort + write + SHA-256 + fsync)', compactor, avroBytes],
      ['raw hyparquet-writer (columns ready, no sort, no checks)', raw, 0],
    ] as const) {
      table.push([
        name,
        m.files,
        m.seconds.toFixed(2),
        m.cpuSeconds.toFixed(2),
        Math.round(ROWS / m.seconds).toLocaleString('en'),
        mb(m.parquetBytes).toFixed(1),
        (mb(m.parquetBytes) / m.seconds).toFixed(1),
        avro === 0 ? '-' : (mb(avro) / m.seconds).toFixed(1),
        `${(m.seconds / raw.seconds).toFixed(2)}x`,
      ]);
    }
    process.stdout.write(
      `segment write, ${ROWS.toLocaleString('en')} rows of a 10-feature view over 2 days, ` +
        `maxRows ${COMPACTOR_DEFAULTS.maxRows}, row groups ${COMPACTOR_DEFAULTS.rowGroupSize}, ZSTD\n${table.toString()}\n`,
    );
    await schemas.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function micros(repetition_type: 'REQUIRED' | 'OPTIONAL') {
  return {
    type: 'INT64',
    repetition_type,
    converted_type: 'TIMESTAMP_MICROS',
    logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MICROS' },
  };
}

function physical(type: string) {
  switch (type) {
    case 'float64':
      return { type: 'DOUBLE' };
    case 'int64':
      return { type: 'INT64' };
    case 'bool':
      return { type: 'BOOLEAN' };
    default:
      return { type: 'BYTE_ARRAY', converted_type: 'UTF8', logical_type: { type: 'STRING' } };
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
