/**
 * Parquet codec bench: the same rows written and read back by each candidate library, in one run.
 *
 *   node_modules/.bin/node -r @swc-node/register bench/parquet/parquet.bench.ts
 *   BENCH_ROWS=100000 … (default 1,000,000)   BENCH_PYTHON=/path/to/python (one that can `import pyarrow`)
 *
 * Each (case, phase) runs in its own child process so that peak RSS belongs to that library alone.
 * Times exclude making the input rows and checking the output rows; both are the same for every case.
 * The NDJSON case is the baseline the ratios are taken against.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  closeSync,
  createReadStream,
  createWriteStream,
  mkdirSync,
  openAsBlob,
  openSync,
  readSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import {
  Bool,
  Field,
  Float64,
  Int64,
  List,
  Table,
  TimeUnit,
  Timestamp,
  Utf8,
  makeData,
  makeVector,
  tableFromIPC,
  tableToIPC,
  vectorFromArray,
  type Vector,
} from 'apache-arrow';
import Table3 from 'cli-table3';
import { parquetMetadataAsync, parquetReadObjects, type AsyncBuffer } from 'hyparquet';
import { ByteWriter, ParquetWriter as HyparquetWriter } from 'hyparquet-writer';
// Resolves to the Node build at run time (export condition `node`); the types are the same.
import * as parquetWasm from 'parquet-wasm';
import { DuckDBInstance } from '@duckdb/node-api';
import { exitOnFailure } from '../bench-entry';
// parquetjs-lite ships no types.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const parquetjs = require('parquetjs-lite');

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const BATCH_ROWS = 65_536;
const BASE_MICROS = 1_735_689_600_000_000; // 2025-01-01T00:00:00Z
const OUT_DIR = process.env.BENCH_DIR ?? join(tmpdir(), 'featurelog-parquet-bench');

interface BenchRow {
  entity_key: string;
  event_timestamp: number;
  created_timestamp: number | null;
  __partition: number;
  __offset: number;
  f64_0: number;
  f64_1: number;
  f64_2: number;
  f64_3: number;
  i64_0: number;
  i64_1: number;
  flag: boolean;
  label: string;
  maybe_f64: number | null;
  vec: number[] | null;
}
const COLUMNS: (keyof BenchRow)[] = [
  'entity_key',
  'event_timestamp',
  'created_timestamp',
  '__partition',
  '__offset',
  'f64_0',
  'f64_1',
  'f64_2',
  'f64_3',
  'i64_0',
  'i64_1',
  'flag',
  'label',
  'maybe_f64',
  'vec',
];
const TIMESTAMP_COLUMNS = ['event_timestamp', 'created_timestamp'];

/** Row i is a pure function of i, so a reader can check what it gets without holding the input. */
function rowAt(i: number): BenchRow {
  const h = hash(i);
  const g = hash(i ^ 0x5bd1e995);
  const event = BASE_MICROS + i * 1_003 + (h % 997); // sub-millisecond digits on purpose
  return {
    entity_key: `entity_${String(h % 100_000).padStart(6, '0')}`,
    event_timestamp: event,
    created_timestamp: i % 10 === 0 ? null : event + (g % 5_000_000),
    __partition: i % 12,
    __offset: 2 ** 40 + i,
    f64_0: h / 4_294_967_296,
    f64_1: (g / 7) * 1e-3 - 200.1,
    f64_2: Math.sin(i) * 1e6,
    f64_3: i * 0.1,
    i64_0: (h * 2_097_152 + g) * (i % 2 ? -1 : 1), // beyond 32 bits, still a safe integer
    i64_1: g % 1000,
    flag: (h & 1) === 1,
    label: `label_${g % 5_000}`,
    maybe_f64: i % 5 === 0 ? null : g / 3,
    vec: i % 7 === 0 ? null : Array.from({ length: h % 4 }, (_, k) => (h + k) / 11),
  };
}

function hash(n: number): number {
  let x = (n + 0x9e3779b9) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

function* batches(): Generator<BenchRow[]> {
  for (let start = 0; start < ROWS; start += BATCH_ROWS) {
    const rows: BenchRow[] = [];
    for (let i = start; i < Math.min(ROWS, start + BATCH_ROWS); i++) rows.push(rowAt(i));
    yield rows;
  }
}

// ---------------------------------------------------------------- cases

interface Case {
  name: string;
  compression: string;
  file: string;
  /** Writes every row. */
  write(rows: BenchRow[][]): Promise<void>;
  /** Calls `check` for each decoded batch, in file order (the stopwatch is paused meanwhile). */
  read(check: (rows: BenchRow[]) => void): Promise<void>;
}

const file = (name: string) => join(OUT_DIR, name);

const ndjson: Case = {
  name: 'ndjson (baseline)',
  compression: 'none',
  file: file('baseline.ndjson'),
  async write(all) {
    const out = createWriteStream(this.file);
    for (const rows of all) {
      if (!out.write(rows.map((r) => JSON.stringify(r)).join('\n') + '\n')) await once(out, 'drain');
    }
    out.end();
    await once(out, 'finish');
  },
  async read(check) {
    let batch: BenchRow[] = [];
    for await (const line of createInterface({ input: createReadStream(this.file), crlfDelay: Infinity })) {
      batch.push(JSON.parse(line) as BenchRow);
      if (batch.length === BATCH_ROWS) {
        check(batch);
        batch = [];
      }
    }
    if (batch.length) check(batch);
  },
};

const parquetjsLite: Case = {
  name: 'parquetjs-lite',
  compression: 'SNAPPY',
  file: file('parquetjs-lite.parquet'),
  async write(all) {
    const c = { compression: 'SNAPPY' };
    const schema = new parquetjs.ParquetSchema({
      entity_key: { type: 'UTF8', ...c },
      event_timestamp: { type: 'TIMESTAMP_MICROS', ...c },
      created_timestamp: { type: 'TIMESTAMP_MICROS', optional: true, ...c },
      __partition: { type: 'INT32', ...c },
      __offset: { type: 'INT64', ...c },
      f64_0: { type: 'DOUBLE', ...c },
      f64_1: { type: 'DOUBLE', ...c },
      f64_2: { type: 'DOUBLE', ...c },
      f64_3: { type: 'DOUBLE', ...c },
      i64_0: { type: 'INT64', ...c },
      i64_1: { type: 'INT64', ...c },
      flag: { type: 'BOOLEAN', ...c },
      label: { type: 'UTF8', ...c },
      maybe_f64: { type: 'DOUBLE', optional: true, ...c },
      // Its only list form is a bare repeated field: no LIST type, and null reads back like [].
      vec: { type: 'DOUBLE', repeated: true, ...c },
    });
    const writer = await parquetjs.ParquetWriter.openFile(schema, this.file);
    writer.setRowGroupSize(BATCH_ROWS);
    for (const rows of all)
      for (const row of rows) await writer.appendRow(row.vec === null ? { ...row, vec: [] } : row);
    await writer.close();
  },
  async read(check) {
    const reader = await parquetjs.ParquetReader.openFile(this.file);
    const cursor = reader.getCursor();
    let batch: BenchRow[] = [];
    for (let raw = await cursor.next(); raw; raw = await cursor.next()) {
      batch.push({
        ...raw,
        // It hands back Date (milliseconds) for TIMESTAMP_MICROS and bigint for INT64.
        event_timestamp: raw.event_timestamp.getTime() * 1000,
        created_timestamp: raw.created_timestamp ? raw.created_timestamp.getTime() * 1000 : null,
        __offset: Number(raw.__offset),
        i64_0: Number(raw.i64_0),
        i64_1: Number(raw.i64_1),
        maybe_f64: raw.maybe_f64 ?? null,
        vec: raw.vec ?? [],
      });
      if (batch.length === BATCH_ROWS) {
        check(batch);
        batch = [];
      }
    }
    await reader.close();
    if (batch.length) check(batch);
  },
};

const MICROS_UTC = { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MICROS' } as const;
const HYPARQUET_SCHEMA = [
  { name: 'root', num_children: 15 },
  { name: 'entity_key', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
  {
    name: 'event_timestamp',
    type: 'INT64',
    converted_type: 'TIMESTAMP_MICROS',
    logical_type: MICROS_UTC,
    repetition_type: 'REQUIRED',
  },
  {
    name: 'created_timestamp',
    type: 'INT64',
    converted_type: 'TIMESTAMP_MICROS',
    logical_type: MICROS_UTC,
    repetition_type: 'OPTIONAL',
  },
  { name: '__partition', type: 'INT32', repetition_type: 'REQUIRED' },
  { name: '__offset', type: 'INT64', repetition_type: 'REQUIRED' },
  { name: 'f64_0', type: 'DOUBLE', repetition_type: 'REQUIRED' },
  { name: 'f64_1', type: 'DOUBLE', repetition_type: 'REQUIRED' },
  { name: 'f64_2', type: 'DOUBLE', repetition_type: 'REQUIRED' },
  { name: 'f64_3', type: 'DOUBLE', repetition_type: 'REQUIRED' },
  { name: 'i64_0', type: 'INT64', repetition_type: 'REQUIRED' },
  { name: 'i64_1', type: 'INT64', repetition_type: 'REQUIRED' },
  { name: 'flag', type: 'BOOLEAN', repetition_type: 'REQUIRED' },
  { name: 'label', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
  { name: 'maybe_f64', type: 'DOUBLE', repetition_type: 'OPTIONAL' },
  { name: 'vec', repetition_type: 'OPTIONAL', converted_type: 'LIST', logical_type: { type: 'LIST' }, num_children: 1 },
  { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
  { name: 'element', type: 'DOUBLE', repetition_type: 'OPTIONAL' },
] as const;
const BIGINT_COLUMNS = new Set(['event_timestamp', 'created_timestamp', '__offset', 'i64_0', 'i64_1']);

function hyparquet(codec: 'ZSTD' | 'SNAPPY'): Case {
  return {
    name: 'hyparquet(-writer)',
    compression: codec,
    file: file(`hyparquet-${codec}.parquet`),
    async write(all) {
      const out = fileWriter(this.file);
      const writer = new HyparquetWriter({
        writer: out,
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        schema: HYPARQUET_SCHEMA as any,
        codec,
        compressors: { ZSTD: (bytes: Uint8Array) => zstdCompressSync(bytes) },
      });
      for (const rows of all) {
        const columnData = COLUMNS.map((name) => ({
          name,
          data: BIGINT_COLUMNS.has(name)
            ? rows.map((r) => (r[name] === null ? null : BigInt(r[name] as number)))
            : rows.map((r) => r[name]),
        }));
        await writer.write({ columnData, rowGroupSize: BATCH_ROWS });
      }
      await writer.finish();
      closeSync(out.fd);
    },
    async read(check) {
      const input = fileAsyncBuffer(this.file);
      const metadata = await parquetMetadataAsync(input);
      let rowStart = 0;
      for (const group of metadata.row_groups) {
        const rowEnd = rowStart + Number(group.num_rows);
        const raw = await parquetReadObjects({
          file: input,
          metadata,
          rowStart,
          rowEnd,
          compressors: { ZSTD: (bytes: Uint8Array) => new Uint8Array(zstdDecompressSync(bytes)) },
          parsers: { timestampFromMicroseconds: (micros: bigint) => Number(micros) },
        });
        const rows = raw.map(
          (r) =>
            ({
              ...r,
              __offset: Number(r.__offset),
              i64_0: Number(r.i64_0),
              i64_1: Number(r.i64_1),
              vec: r.vec ?? null,
            }) as BenchRow,
        );
        rowStart = rowEnd;
        check(rows);
      }
    },
  };
}

function parquetWasmCase(codec: 'ZSTD' | 'SNAPPY'): Case {
  return {
    name: 'parquet-wasm + arrow',
    compression: codec,
    file: file(`parquet-wasm-${codec}.parquet`),
    async write(all) {
      const properties = new parquetWasm.WriterPropertiesBuilder()
        .setCompression(codec === 'ZSTD' ? parquetWasm.Compression.ZSTD : parquetWasm.Compression.SNAPPY)
        .setMaxRowGroupSize(BATCH_ROWS)
        .build();
      let next = 0;
      const input = new ReadableStream({
        pull(controller) {
          const rows = all[next++];
          if (!rows) return controller.close();
          const ipc = tableToIPC(arrowTable(rows), 'stream');
          controller.enqueue(parquetWasm.Table.fromIPCStream(ipc).recordBatch(0));
        },
      });
      const output = await parquetWasm.transformParquetStream(input, properties);
      await output.pipeTo(Writable.toWeb(createWriteStream(this.file)));
    },
    async read(check) {
      const parquetFile = await parquetWasm.ParquetFile.fromFile(await openAsBlob(this.file));
      const stream = await parquetFile.stream({ batchSize: BATCH_ROWS });
      const reader = stream.getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const rows = rowsFromArrow(tableFromIPC((value as parquetWasm.RecordBatch).intoIPCStream()));
        check(rows);
      }
    },
  };
}

/** hyparquet-writer's own file writer is not in the typings we resolve; this is the same thing. */
function fileWriter(path: string): ByteWriter & { fd: number } {
  const fd = openSync(path, 'w');
  const writer = Object.assign(new ByteWriter(), { fd });
  const grow = writer.ensure.bind(writer);
  const flush = () => {
    writeSync(fd, new Uint8Array(writer.buffer, 0, writer.index));
    writer.index = 0;
  };
  writer.ensure = (size: number) => {
    if (writer.index > 1 << 20) flush();
    grow(size);
  };
  writer.finish = flush;
  return writer;
}

function fileAsyncBuffer(path: string): AsyncBuffer {
  const fd = openSync(path, 'r');
  return {
    byteLength: statSync(path).size,
    slice(start: number, end?: number) {
      const bytes = Buffer.alloc((end ?? this.byteLength) - start);
      readSync(fd, bytes, 0, bytes.length, start);
      return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer;
    },
  };
}

const microsUtc = new Timestamp(TimeUnit.MICROSECOND, 'UTC');

function arrowTable(rows: BenchRow[]): Table {
  const bigints = (name: keyof BenchRow) => BigInt64Array.from(rows, (r) => BigInt((r[name] as number | null) ?? 0));
  const validity = (name: keyof BenchRow) => {
    const bits = new Uint8Array(Math.ceil(rows.length / 8));
    rows.forEach((r, i) => {
      if (r[name] !== null) bits[i >> 3]! |= 1 << (i & 7);
    });
    return bits;
  };
  const nulls = (name: keyof BenchRow) => rows.filter((r) => r[name] === null).length;
  const length = rows.length;
  return new Table({
    entity_key: vectorFromArray(
      rows.map((r) => r.entity_key),
      new Utf8(),
    ),
    event_timestamp: makeVector(makeData({ type: microsUtc, length, data: bigints('event_timestamp') })),
    created_timestamp: makeVector(
      makeData({
        type: microsUtc,
        length,
        data: bigints('created_timestamp'),
        nullCount: nulls('created_timestamp'),
        nullBitmap: validity('created_timestamp'),
      }),
    ),
    __partition: makeVector(Int32Array.from(rows, (r) => r.__partition)),
    __offset: makeVector(makeData({ type: new Int64(), length, data: bigints('__offset') })),
    f64_0: makeVector(Float64Array.from(rows, (r) => r.f64_0)),
    f64_1: makeVector(Float64Array.from(rows, (r) => r.f64_1)),
    f64_2: makeVector(Float64Array.from(rows, (r) => r.f64_2)),
    f64_3: makeVector(Float64Array.from(rows, (r) => r.f64_3)),
    i64_0: makeVector(makeData({ type: new Int64(), length, data: bigints('i64_0') })),
    i64_1: makeVector(makeData({ type: new Int64(), length, data: bigints('i64_1') })),
    flag: vectorFromArray(
      rows.map((r) => r.flag),
      new Bool(),
    ),
    label: vectorFromArray(
      rows.map((r) => r.label),
      new Utf8(),
    ),
    maybe_f64: vectorFromArray(
      rows.map((r) => r.maybe_f64),
      new Float64(),
    ),
    vec: vectorFromArray(
      rows.map((r) => r.vec),
      new List(new Field('element', new Float64(), true)),
    ),
  });
}

function rowsFromArrow(table: Table): BenchRow[] {
  const columns = new Map<string, (i: number) => unknown>();
  for (const name of COLUMNS) {
    const vector = table.getChild(name) as Vector;
    if (BIGINT_COLUMNS.has(name)) {
      // Read the raw int64s: Arrow JS turns timestamps into float milliseconds.
      const values = vector.data.length === 1 ? (vector.data[0]!.values as BigInt64Array) : null;
      if (!values) throw new Error(`expected one chunk for ${name}`);
      columns.set(name, (i) => (vector.isValid(i) ? Number(values[i]) : null));
    } else if (name === 'vec') {
      columns.set(name, (i) => {
        const list = vector.get(i) as Vector | null;
        return list === null ? null : Array.from(list.toArray() as Float64Array);
      });
    } else {
      columns.set(name, (i) => vector.get(i));
    }
  }
  const rows: BenchRow[] = [];
  for (let i = 0; i < table.numRows; i++) {
    const row: Record<string, unknown> = {};
    for (const [name, get] of columns) row[name] = get(i);
    rows.push(row as unknown as BenchRow);
  }
  return rows;
}

const CASES: Record<string, Case> = {
  ndjson,
  'parquetjs-lite': parquetjsLite,
  'hyparquet-zstd': hyparquet('ZSTD'),
  'hyparquet-snappy': hyparquet('SNAPPY'),
  'parquet-wasm-zstd': parquetWasmCase('ZSTD'),
  'parquet-wasm-snappy': parquetWasmCase('SNAPPY'),
};

// ---------------------------------------------------------------- child phases

interface WriteResult {
  ms: number;
  cpuMs: number;
  peakRssDeltaMiB: number;
  bytes: number;
}
interface ReadResult {
  ms: number;
  cpuMs: number;
  peakRssDeltaMiB: number;
  rows: number;
  mismatches: Record<string, number>;
  examples: string[];
}

const peakRssMiB = () => process.resourceUsage().maxRSS / 1024;

/**
 * Wall and CPU time of the library's work only. CPU time (all threads of the process) is the figure to
 * trust on a shared machine, where wall time also counts waiting for a core.
 */
class Stopwatch {
  private wallMs = 0;
  private cpuMs = 0;
  private since: { wall: number; cpu: number } | undefined;
  private static now() {
    const { user, system } = process.cpuUsage();
    return { wall: performance.now(), cpu: (user + system) / 1000 };
  }
  resume() {
    this.since = Stopwatch.now();
  }
  pause() {
    const now = Stopwatch.now();
    this.wallMs += now.wall - this.since!.wall;
    this.cpuMs += now.cpu - this.since!.cpu;
  }
  result() {
    return { ms: this.wallMs, cpuMs: this.cpuMs };
  }
}

async function runWrite(benchCase: Case): Promise<WriteResult> {
  const all = [...batches()];
  global.gc?.();
  const before = peakRssMiB();
  const stopwatch = new Stopwatch();
  stopwatch.resume();
  await benchCase.write(all);
  stopwatch.pause();
  return { ...stopwatch.result(), peakRssDeltaMiB: peakRssMiB() - before, bytes: statSync(benchCase.file).size };
}

async function runRead(benchCase: Case): Promise<ReadResult> {
  const before = peakRssMiB();
  const mismatches: Record<string, number> = {};
  const examples: string[] = [];
  let index = 0;
  const stopwatch = new Stopwatch();
  stopwatch.resume();
  await benchCase.read((rows) => {
    stopwatch.pause();
    for (const actual of rows) {
      const expected = rowAt(index);
      for (const name of COLUMNS) {
        if (sameValue(actual[name], expected[name])) continue;
        mismatches[name] = (mismatches[name] ?? 0) + 1;
        if (mismatches[name] === 1 && examples.length < 6) {
          examples.push(
            `${name}@${index}: wrote ${JSON.stringify(expected[name])}, read ${JSON.stringify(actual[name])}`,
          );
        }
      }
      index++;
    }
    stopwatch.resume();
  });
  stopwatch.pause();
  return { ...stopwatch.result(), peakRssDeltaMiB: peakRssMiB() - before, rows: index, mismatches, examples };
}

function sameValue(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
  return Object.is(a, b);
}

// ---------------------------------------------------------------- external readers

interface ExternalCheck {
  duckdb: string;
  pyarrow: string;
}

async function duckdbCheck(path: string): Promise<string> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const described = (
      await connection.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${path}')`)
    ).getRowObjects();
    const types = TIMESTAMP_COLUMNS.map((c) => `${described.find((r) => r.column_name === c)?.column_type}`);
    const probe = Math.min(ROWS - 1, 12_345);
    const [sample] = (
      await connection.runAndReadAll(
        `SELECT epoch_us(event_timestamp)::BIGINT AS us, count(*) OVER () AS n FROM read_parquet('${path}') WHERE __offset = ${rowAt(probe).__offset}`,
      )
    ).getRowObjects();
    const exact = sample !== undefined && Number(sample.us) === rowAt(probe).event_timestamp;
    const ok = types.every((t) => t.startsWith('TIMESTAMP')) && exact;
    const short = types.map((t) => t.replace('TIMESTAMP WITH TIME ZONE', 'TIMESTAMPTZ'));
    return `${ok ? 'ok' : 'NO'}: ${short.join(', ')}${exact ? ', µs exact' : ', µs WRONG'}`;
  } catch (error) {
    return `NO: ${(error as Error).message.split('\n')[0]}`;
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

function findPython(): string | undefined {
  const candidates = [process.env.BENCH_PYTHON, resolve(__dirname, '../../.venv/bin/python'), 'python3'].filter(
    Boolean,
  ) as string[];
  return candidates.find((python) => spawnSync(python, ['-c', 'import pyarrow'], { stdio: 'ignore' }).status === 0);
}

function pyarrowCheck(python: string | undefined, path: string): string {
  if (!python) return 'skipped (no python with pyarrow; set BENCH_PYTHON)';
  const probe = Math.min(ROWS - 1, 12_345);
  const script = `
import sys, pyarrow.parquet as pq, pyarrow.compute as pc
t = pq.read_table(sys.argv[1])
types = [str(t.schema.field(c).type) for c in ('event_timestamp', 'created_timestamp')]
row = t.filter(pc.equal(t['__offset'], int(sys.argv[2])))
us = row['event_timestamp'].cast('int64')[0].as_py()
print('|'.join(types) + '|' + str(us) + '|' + str(t.num_rows))`;
  try {
    const out = execFileSync(python, ['-c', script, path, String(rowAt(probe).__offset)], { encoding: 'utf8' }).trim();
    const [a, b, us, n] = out.split('|');
    const exact = Number(us) === rowAt(probe).event_timestamp && Number(n) === ROWS;
    const ok = a!.startsWith('timestamp') && b!.startsWith('timestamp') && exact;
    return `${ok ? 'ok' : 'NO'}: ${a === b ? a : `${a}, ${b}`}${exact ? ', µs exact' : ', µs WRONG'}`;
  } catch (error) {
    return `NO: ${String((error as Error).message)
      .split('\n')
      .slice(-2)
      .join(' ')}`;
  }
}

/** The brief's claim, checked: parquetjs-lite writes TIMESTAMP_MILLIS it cannot read back. */
async function parquetjsMillisProbe(): Promise<string> {
  const path = file('parquetjs-lite-millis.parquet');
  const schema = new parquetjs.ParquetSchema({ ts: { type: 'TIMESTAMP_MILLIS' } });
  const writer = await parquetjs.ParquetWriter.openFile(schema, path);
  await writer.appendRow({ ts: new Date(BASE_MICROS / 1000) });
  await writer.close();
  try {
    const reader = await parquetjs.ParquetReader.openFile(path);
    const row = await reader.getCursor().next();
    await reader.close();
    return `reads back ${JSON.stringify(row)}`;
  } catch (error) {
    return `cannot read its own file: ${(error as Error).message}`;
  }
}

// ---------------------------------------------------------------- orchestration

function child<T>(caseName: string, phase: 'write' | 'read'): T {
  const result = spawnSync(
    process.execPath,
    ['--expose-gc', '-r', '@swc-node/register', __filename, '--child', caseName, phase],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env: process.env },
  );
  const last = result.stdout.trim().split('\n').at(-1) ?? '';
  if (result.status !== 0 || !last.startsWith('{')) {
    throw new Error(`${caseName} ${phase} failed (exit ${result.status}):\n${result.stderr}\n${result.stdout}`);
  }
  return JSON.parse(last) as T;
}

async function main(): Promise<void> {
  const childIndex = process.argv.indexOf('--child');
  if (childIndex > 0) {
    const benchCase = CASES[process.argv[childIndex + 1]!]!;
    const phase = process.argv[childIndex + 2];
    const result = phase === 'write' ? await runWrite(benchCase) : await runRead(benchCase);
    process.stdout.write(JSON.stringify(result) + '\n');
    return;
  }

  rmSync(OUT_DIR, { recursive: true, force: true });
  mkdirSync(OUT_DIR, { recursive: true });
  const python = findPython();
  console.log(
    `${ROWS.toLocaleString('en')} rows, ${COLUMNS.length} columns, row groups of ${BATCH_ROWS}; files in ${OUT_DIR}`,
  );
  console.log(`pyarrow via: ${python ?? 'none found'}; node ${process.version}`);

  const results: { key: string; benchCase: Case; w: WriteResult; r: ReadResult; ext: ExternalCheck }[] = [];
  for (const [key, benchCase] of Object.entries(CASES)) {
    process.stderr.write(`${key}: write… `);
    const w = child<WriteResult>(key, 'write');
    process.stderr.write(`read… `);
    const r = child<ReadResult>(key, 'read');
    const isParquet = benchCase.file.endsWith('.parquet');
    const ext = {
      duckdb: isParquet ? await duckdbCheck(benchCase.file) : 'n/a',
      pyarrow: isParquet ? pyarrowCheck(python, benchCase.file) : 'n/a',
    };
    process.stderr.write('done\n');
    results.push({ key, benchCase, w, r, ext });
  }

  const base = results[0]!;
  const perSecond = (ms: number) => Math.round((ROWS / ms) * 1000);
  const table = new Table3({
    style: { head: [], border: [] },
    head: [
      'library',
      'codec',
      'write rows/s CPU (wall)',
      '×base',
      'read rows/s CPU (wall)',
      '×base',
      'MiB',
      'RSS Δ w/r MiB',
      'round-trip',
      'DuckDB',
      'pyarrow',
    ],
  });
  for (const { benchCase, w, r, ext } of results) {
    const wrong = Object.entries(r.mismatches);
    const roundTrip =
      r.rows !== ROWS
        ? `NO: read ${r.rows} rows`
        : wrong.length === 0
          ? 'exact'
          : `NO: ${wrong.map(([c, n]) => `${c}×${n}`).join(', ')}`;
    table.push([
      benchCase.name,
      benchCase.compression,
      `${perSecond(w.cpuMs).toLocaleString('en')} (${perSecond(w.ms).toLocaleString('en')})`,
      (base.w.cpuMs / w.cpuMs).toFixed(2),
      `${perSecond(r.cpuMs).toLocaleString('en')} (${perSecond(r.ms).toLocaleString('en')})`,
      (base.r.cpuMs / r.cpuMs).toFixed(2),
      (w.bytes / 2 ** 20).toFixed(1),
      `${w.peakRssDeltaMiB.toFixed(0)} / ${r.peakRssDeltaMiB.toFixed(0)}`,
      roundTrip,
      ext.duckdb,
      ext.pyarrow,
    ]);
  }
  console.log(table.toString());
  for (const { benchCase, r } of results) {
    for (const example of r.examples) console.log(`  ${benchCase.name} ${benchCase.compression}: ${example}`);
  }
  console.log(`parquetjs-lite TIMESTAMP_MILLIS: ${await parquetjsMillisProbe()}`);
}

exitOnFailure(main());
