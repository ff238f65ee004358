/**
 * Training-set export bench: featurelog's export (segments k-way merged with the sorted log tail, streaming
 * point-in-time join, spill-to-disk sorts) beside DuckDB's ASOF JOIN on the same Parquet, same rules.
 *
 *   node_modules/.bin/node -r @swc-node/register bench/export/export.bench.ts
 *   BENCH_SCALE=0.1 …   (short run: 100k entity rows, 1M history rows)
 *
 * Data (generated once per scale, cached under /tmp/featurelog-bench-export/<scale>/): 1M entity rows
 * (row_id, driver_id, customer_id, event_timestamp, label) and 3 views with 10M history rows in all —
 * driver_hourly (TTL 1 day) and driver_daily (no TTL) keyed by driver, customer_weekly (TTL 7 days)
 * keyed by customer — over 10 days. Each view's rows are on its topic in the embedded log; 98% of each
 * topic is compacted into one segment per day (announced on <project>.segments), the last 2% is only in
 * the log tail. DuckDB reads the same segment files plus a Parquet copy of the tail.
 *
 * The DuckDB query is exactly the export's rule: history deduplicated to the winner per (key,
 * event_timestamp) — created_timestamp DESC NULLS LAST, __offset DESC, __partition DESC — then ASOF LEFT
 * JOIN on event_timestamp <= t, features nulled when older than t - TTL. Every output row of the two is
 * compared (joined on row_id) and the bench fails on any difference.
 *
 * Each case runs in a child process; peak RSS is VmRSS sampled every 50 ms from the parent, checked
 * against the child's own maxRSS. Memory vs history: both run again on a dataset with a quarter of the
 * history (same entity rows).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Table3 from 'cli-table3';
import { DuckDBInstance } from '@duckdb/node-api';
import { parquetWriteBuffer } from 'hyparquet-writer';
import {
  topicNames,
  valueSubject,
  type EntityDefinition,
  type FeatureValue,
  type FeatureViewDefinition,
  type TaggedDefinition,
} from '@featurelog/domain';
import { avroType, encodeRow, LocalSchemaRegistry, rowSchemaFor } from '@featurelog/avro';
import { FileEventLog } from '@featurelog/log';
import {
  HyparquetSegmentCodec,
  jsonSegmentEventDecoder,
  segmentSchemaFor,
  sortSegmentRows,
  writeSegment,
  type SegmentRow,
  type SegmentWritten,
} from '@featurelog/offline-store';
import { exportTrainingSet } from '@featurelog/jobs';
import { seededRandom } from '@featurelog/testing';
import { exitOnFailure } from '../bench-entry';

const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const ENTITY_ROWS = Math.round(1_000_000 * SCALE);
const HISTORY_ROWS = Math.round(10_000_000 * SCALE);
const DRIVERS = Math.max(10, Math.round(100_000 * SCALE));
const CUSTOMERS = Math.max(10, Math.round(50_000 * SCALE));
const DAYS = 10;
const TAIL_SHARE = 0.02;
const PROJECT = 'bench';
const SECOND = 1_000_000;
const DAY = 86_400 * SECOND;
const START = Date.UTC(2025, 0, 1) * 1000;
const CACHE = join('/tmp/featurelog-bench-export', String(SCALE));
/** History scales measured: the full history, and a quarter of it for how memory grows with history. */
const HISTORY_SCALES = [1, 0.25];
const rootOf = (history: number) => join(CACHE, `history-${history}`);

const DRIVER: EntityDefinition = { name: 'driver', joinKeys: [{ name: 'driver_id', type: 'int64' }] };
const CUSTOMER: EntityDefinition = { name: 'customer', joinKeys: [{ name: 'customer_id', type: 'int64' }] };

interface ViewShape {
  view: FeatureViewDefinition;
  key: 'driver_id' | 'customer_id';
  keys: number;
  share: number;
  salt: number;
}

const view = (name: string, entity: string, ttlSeconds: number, features: FeatureViewDefinition['features']) =>
  ({
    name,
    version: 1,
    entities: [entity],
    features,
    ttlSeconds,
    online: true,
    offline: true,
    partitions: 1,
  }) as FeatureViewDefinition;

const SHAPES: ViewShape[] = [
  {
    view: view('driver_hourly', 'driver', 86_400, [
      { name: 'conv_rate', type: 'float64' },
      { name: 'acc_rate', type: 'float64' },
      { name: 'trips', type: 'int64' },
    ]),
    key: 'driver_id',
    keys: DRIVERS,
    share: 0.5,
    salt: 1,
  },
  {
    view: view('driver_daily', 'driver', 0, [
      { name: 'rating', type: 'float64' },
      { name: 'level', type: 'int64' },
    ]),
    key: 'driver_id',
    keys: DRIVERS,
    share: 0.3,
    salt: 2,
  },
  {
    view: view('customer_weekly', 'customer', 7 * 86_400, [
      { name: 'spend', type: 'float64' },
      { name: 'orders', type: 'int64' },
    ]),
    key: 'customer_id',
    keys: CUSTOMERS,
    share: 0.2,
    salt: 3,
  },
];

const DEFINITIONS: TaggedDefinition[] = [
  { kind: 'entity', definition: DRIVER },
  { kind: 'entity', definition: CUSTOMER },
  ...SHAPES.map((shape): TaggedDefinition => ({ kind: 'feature_view', definition: shape.view })),
];
const FEATURES = SHAPES.flatMap((shape) => shape.view.features.map((f) => `${shape.view.name}:${f.name}`));

// ---------------------------------------------------------------- data, generated once per scale

interface Dataset {
  entities: string;
  offlineRoot: string;
  log: string;
  schemas: string;
  tails: Record<string, string>;
  segments: Record<string, SegmentWritten[]>;
  segmentWriteRowsPerSecond: number;
}

async function dataset(history: number): Promise<Dataset> {
  const root = rootOf(history);
  const manifest = join(root, 'manifest.json');
  if (existsSync(manifest)) return JSON.parse(readFileSync(manifest, 'utf8')) as Dataset;
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  const out: Dataset = {
    entities: join(root, 'entities.parquet'),
    offlineRoot: join(root, 'offline'),
    log: join(root, 'log'),
    schemas: join(root, 'schemas'),
    tails: {},
    segments: {},
    segmentWriteRowsPerSecond: 0,
  };
  writeEntities(out.entities);
  const log = await FileEventLog.open({ directory: out.log, fsync: 'never', maxBatch: 10_000 });
  const schemas = await LocalSchemaRegistry.open({ directory: out.schemas });
  const codec = new HyparquetSegmentCodec();
  await log.ensureTopic({ name: topicNames.segments(PROJECT), partitions: 1, config: {} });
  let segmentMillis = 0;
  let segmentRows = 0;
  for (const shape of SHAPES) {
    const { view: definition } = shape;
    const entities = [definition.entities[0] === 'driver' ? DRIVER : CUSTOMER];
    const topic = topicNames.features(PROJECT, definition);
    await log.ensureTopic({ name: topic, partitions: 1, config: {} });
    const schema = rowSchemaFor(definition, entities, PROJECT);
    const schemaId = await schemas.register(valueSubject(topic), schema);
    const type = avroType(schema);
    const segmentSchema = segmentSchemaFor(definition, entities);
    const rows = Math.round(HISTORY_ROWS * history * shape.share);
    const tailRows = Math.round(rows * TAIL_SHARE);
    const rand = seededRandom(shape.salt * 7919);
    out.segments[definition.name] = [];
    const tailForDuck: SegmentRow[] = [];
    // One batch per day, appended in time order; the last TAIL_SHARE of the topic stays uncompacted.
    const perDay = Math.ceil(rows / DAYS);
    let appended = 0;
    for (let day = 0; day < DAYS && appended < rows; day++) {
      const count = Math.min(perDay, rows - appended);
      const values: Record<string, FeatureValue>[] = [];
      for (let i = 0; i < count; i++) {
        const eventTimestamp = START + day * DAY + Math.floor(rand() * 86_400) * SECOND;
        const row: Record<string, FeatureValue> = {
          [shape.key]: Math.floor(rand() * shape.keys),
          event_timestamp: eventTimestamp,
          // Ties on event time with different created times: the tie-break has work to do.
          created_timestamp: rand() < 0.3 ? null : eventTimestamp + Math.floor(rand() * 4) * SECOND,
        };
        for (const feature of definition.features) {
          row[feature.name] =
            rand() < 0.05
              ? null
              : feature.type === 'int64'
                ? Math.floor(rand() * 10_000)
                : Math.round(rand() * 1e6) / 1e6;
        }
        values.push(row);
      }
      const positions: { offset: number }[] = [];
      for (let start = 0; start < values.length; start += 10_000) {
        const slice = values.slice(start, start + 10_000);
        positions.push(
          ...(await log.append(
            topic,
            slice.map((row) => ({ key: null, value: encodeRow(schemaId, type, row), partition: 0 })),
          )),
        );
      }
      // Append time as the log recorded it: read back the first record's timestamp for this batch.
      const appendedAt = Date.now() * 1000;
      const segmentRowsOfDay: SegmentRow[] = values.map((row, i) => ({
        joinKeys: { [shape.key]: row[shape.key]! },
        eventTimestamp: row.event_timestamp as number,
        createdTimestamp: row.created_timestamp as number | null,
        partition: 0,
        offset: positions[i]!.offset,
        appendTime: appendedAt,
        features: Object.fromEntries(definition.features.map((f) => [f.name, row[f.name] ?? null])),
      }));
      const compactedCount = Math.min(count, Math.max(0, rows - tailRows - appended));
      const compacted = segmentRowsOfDay.slice(0, compactedCount);
      tailForDuck.push(...segmentRowsOfDay.slice(compactedCount));
      if (compacted.length > 0) {
        const started = performance.now();
        const event = await writeSegment(codec, {
          root: out.offlineRoot,
          project: PROJECT,
          schema: segmentSchema,
          date: new Date((START + day * DAY) / 1000).toISOString().slice(0, 10),
          ranges: [{ partition: 0, fromOffset: compacted[0]!.offset, untilOffset: compacted.at(-1)!.offset + 1 }],
          rows: [sortSegmentRows(segmentSchema, compacted)],
        });
        segmentMillis += performance.now() - started;
        segmentRows += compacted.length;
        out.segments[definition.name]!.push(event);
        await log.append(topicNames.segments(PROJECT), [
          { key: Buffer.from(definition.name), value: Buffer.from(JSON.stringify(event)) },
        ]);
      }
      appended += count;
      process.stderr.write(`  generated ${definition.name} day ${day + 1}/${DAYS}\n`);
    }
    // DuckDB cannot read the log: the tail rows, as a Parquet file of the segment layout.
    const tailEvent = await writeSegment(codec, {
      root: join(root, 'duck-tail'),
      project: PROJECT,
      schema: segmentSchema,
      date: '2025-01-01',
      ranges: [{ partition: 0, fromOffset: tailForDuck[0]!.offset, untilOffset: tailForDuck.at(-1)!.offset + 1 }],
      rows: [sortSegmentRows(segmentSchema, tailForDuck)],
      segmentId: 'tail',
    });
    out.tails[definition.name] = join(root, 'duck-tail', tailEvent.path);
  }
  out.segmentWriteRowsPerSecond = segmentRows / (segmentMillis / 1000);
  await log.close();
  await schemas.close();
  writeFileSync(manifest, JSON.stringify(out));
  return out;
}

function writeEntities(path: string): void {
  const rand = seededRandom(42);
  const n = ENTITY_ROWS;
  const rowId: bigint[] = new Array(n);
  const driver: bigint[] = new Array(n);
  const customer: bigint[] = new Array(n);
  const ts: bigint[] = new Array(n);
  const label: number[] = new Array(n);
  for (let i = 0; i < n; i++) {
    rowId[i] = BigInt(i);
    driver[i] = BigInt(Math.floor(rand() * DRIVERS));
    customer[i] = BigInt(Math.floor(rand() * CUSTOMERS));
    ts[i] = BigInt(START + Math.floor(rand() * DAYS * 86_400) * SECOND);
    label[i] = rand() < 0.5 ? 0 : 1;
  }
  const buffer = parquetWriteBuffer({
    columnData: [
      { name: 'row_id', data: rowId },
      { name: 'driver_id', data: driver },
      { name: 'customer_id', data: customer },
      { name: 'event_timestamp', data: ts },
      { name: 'label', data: label },
    ],
    schema: [
      { name: 'root', num_children: 5 },
      { name: 'row_id', type: 'INT64', repetition_type: 'REQUIRED' },
      { name: 'driver_id', type: 'INT64', repetition_type: 'REQUIRED' },
      { name: 'customer_id', type: 'INT64', repetition_type: 'REQUIRED' },
      {
        name: 'event_timestamp',
        type: 'INT64',
        repetition_type: 'REQUIRED',
        converted_type: 'TIMESTAMP_MICROS',
        logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MICROS' },
      },
      { name: 'label', type: 'INT32', repetition_type: 'REQUIRED' },
    ],
    rowGroupSize: 100_000,
  });
  writeFileSync(path, new Uint8Array(buffer));
}

// ---------------------------------------------------------------- the cases (each in a child process)

interface CaseResult {
  millis: number;
  rows: number;
  maxRssBytes: number;
  detail?: string;
}

async function runFeaturelog(data: Dataset, output: string): Promise<CaseResult> {
  const log = await FileEventLog.open({ directory: data.log, fsync: 'never', maxBatch: 10_000 });
  const schemas = await LocalSchemaRegistry.open({ directory: data.schemas });
  try {
    const started = performance.now();
    let lastPhase = '';
    const result = await exportTrainingSet(
      { log, schemas, codec: new HyparquetSegmentCodec(), offlineRoot: data.offlineRoot, project: PROJECT },
      DEFINITIONS,
      { entities: data.entities, features: FEATURES, output },
      {
        decodeSegmentEvent: jsonSegmentEventDecoder,
        ...(process.env.BENCH_WORKERS === undefined ? {} : { workers: Number(process.env.BENCH_WORKERS) }),
        // BENCH_TRACE=1: when each phase of the export starts (stderr).
        onProgress:
          process.env.BENCH_TRACE === undefined
            ? undefined
            : ({ phase }) => {
                if (phase === lastPhase) return;
                lastPhase = phase;
                const { rss, heapUsed, heapTotal, arrayBuffers } = process.memoryUsage();
                process.stderr.write(
                  `  ${((performance.now() - started) / 1000).toFixed(2)} s  ${phase} (rss ${mib(rss)}, heap ${mib(heapUsed)} of ${mib(heapTotal)}, array buffers ${mib(arrayBuffers)})\n`,
                );
              },
      },
    );
    return {
      millis: performance.now() - started,
      rows: result.rows,
      maxRssBytes: process.resourceUsage().maxRSS * 1024,
      detail: `${result.segmentsRead} segments (${result.segmentRows} rows) + ${result.tailRows} tail rows, ${result.historyRowsRead} history rows read, ${result.entityFrames} entity frame(s)`,
    };
  } finally {
    await log.close();
    await schemas.close();
  }
}

function duckQuery(data: Dataset, output: string): string {
  const viewSql = SHAPES.map(({ view: definition, key }) => {
    const files = [
      `'${data.offlineRoot}/${PROJECT}/${definition.name}/*/*.parquet'`,
      `'${data.tails[definition.name]}'`,
    ];
    const features = definition.features.map((f) => f.name).join(', ');
    return `${definition.name} AS (
      SELECT ${key}, event_timestamp, ${features} FROM read_parquet([${files.join(', ')}])
      QUALIFY row_number() OVER (PARTITION BY ${key}, event_timestamp
        ORDER BY created_timestamp DESC NULLS LAST, __offset DESC, __partition DESC) = 1)`;
  });
  let from = `read_parquet('${data.entities}') e`;
  const selects: string[] = [];
  for (const [i, { view: definition, key }] of SHAPES.entries()) {
    const alias = `v${i}`;
    from += `\n ASOF LEFT JOIN ${definition.name} ${alias} ON e.${key} = ${alias}.${key} AND e.event_timestamp >= ${alias}.event_timestamp`;
    const fresh =
      definition.ttlSeconds > 0
        ? `${alias}.event_timestamp >= e.event_timestamp - INTERVAL ${definition.ttlSeconds} SECOND`
        : 'true';
    for (const feature of definition.features) {
      selects.push(`CASE WHEN ${fresh} THEN ${alias}.${feature.name} END AS ${feature.name}`);
    }
  }
  return `COPY (WITH ${viewSql.join(',\n')}
    SELECT e.*, ${selects.join(', ')} FROM ${from} ORDER BY e.row_id) TO '${output}' (FORMAT parquet)`;
}

async function runDuckdb(data: Dataset, output: string): Promise<CaseResult> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const started = performance.now();
    await connection.run(duckQuery(data, output));
    const millis = performance.now() - started;
    const count = await connection.runAndReadAll(`SELECT count(*) FROM read_parquet('${output}')`);
    return {
      millis,
      rows: Number(count.getRows()[0]![0]),
      maxRssBytes: process.resourceUsage().maxRSS * 1024,
      detail: `threads ${(await connection.runAndReadAll("SELECT current_setting('threads')")).getRows()[0]![0]}`,
    };
  } finally {
    connection.closeSync();
  }
}

/** Every output row of the two, compared on row_id; returns how many rows differ. */
async function compareOutputs(
  ours: string,
  theirs: string,
): Promise<{ rows: number; different: number; withValue: number }> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const columns = [
      'driver_id',
      'customer_id',
      'event_timestamp',
      'label',
      ...SHAPES.flatMap((s) => s.view.features.map((f) => f.name)),
    ];
    const differs = columns.map((column) => `a.${column} IS DISTINCT FROM b.${column}`).join(' OR ');
    const reader = await connection.runAndReadAll(`
      SELECT count(*),
             count(*) FILTER (WHERE b.row_id IS NULL OR ${differs}),
             count(a.conv_rate)
      FROM read_parquet('${ours}') a LEFT JOIN read_parquet('${theirs}') b USING (row_id)`);
    const [rows, different, withValue] = reader.getRows()[0]!.map(Number) as [number, number, number];
    return { rows, different, withValue };
  } finally {
    connection.closeSync();
  }
}

// ---------------------------------------------------------------- orchestration

function runChild(args: string[]): Promise<CaseResult & { sampledPeakRss: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, __filename, ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    let peak = 0;
    const sample = setInterval(() => {
      try {
        const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
        const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
        if (rss > peak) peak = rss;
      } catch {
        // The child ended between two samples.
      }
    }, 50);
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.on('exit', (code) => {
      clearInterval(sample);
      if (code !== 0) return reject(new Error(`${args.join(' ')} exited with ${code}`));
      resolve({ ...(JSON.parse(stdout.trim().split('\n').at(-1)!) as CaseResult), sampledPeakRss: peak });
    });
  });
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

async function main(): Promise<void> {
  const [mode, arg] = process.argv.slice(2);
  if (mode === '--child') {
    const [engine, history] = arg!.split(':') as [string, string];
    const root = rootOf(Number(history));
    const data = JSON.parse(readFileSync(join(root, 'manifest.json'), 'utf8')) as Dataset;
    const result =
      engine === 'duckdb'
        ? await runDuckdb(data, join(root, 'out-duckdb.parquet'))
        : await runFeaturelog(data, join(root, 'out-featurelog.parquet'));
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  process.stderr.write(
    `export bench: ${ENTITY_ROWS} entity rows, ${HISTORY_ROWS} history rows in 3 views (${CACHE})\n`,
  );
  const [data] = [await dataset(1), await dataset(0.25)];
  const cases: Array<[string, string[]]> = [
    ['featurelog export', ['--child', 'featurelog:1']],
    ['DuckDB ASOF JOIN', ['--child', 'duckdb:1']],
    ['featurelog export, 1/4 history', ['--child', 'featurelog:0.25']],
    ['DuckDB ASOF JOIN, 1/4 history', ['--child', 'duckdb:0.25']],
  ];
  const results: Record<string, CaseResult & { sampledPeakRss: number }> = {};
  for (const [name, args] of cases) {
    process.stderr.write(`  running ${name}…\n`);
    results[name] = await runChild(args);
  }
  const agreements = await Promise.all(
    HISTORY_SCALES.map((history) =>
      compareOutputs(join(rootOf(history), 'out-featurelog.parquet'), join(rootOf(history), 'out-duckdb.parquet')),
    ),
  );
  const duckOf = (name: string) =>
    results[name.includes('1/4') ? 'DuckDB ASOF JOIN, 1/4 history' : 'DuckDB ASOF JOIN']!;
  const table = new Table3({ head: ['case', 'time', 'entity rows/s', 'vs DuckDB', 'peak RSS', 'detail'] });
  for (const [name, result] of Object.entries(results)) {
    table.push([
      name,
      `${(result.millis / 1000).toFixed(2)} s`,
      Math.round(result.rows / (result.millis / 1000)).toLocaleString('en'),
      `${(result.millis / duckOf(name).millis).toFixed(2)}x`,
      mib(Math.max(result.sampledPeakRss, result.maxRssBytes)),
      result.detail ?? '',
    ]);
  }
  console.log(table.toString());
  const full = results['featurelog export']!;
  const quarter = results['featurelog export, 1/4 history']!;
  const fullRss = Math.max(full.sampledPeakRss, full.maxRssBytes);
  const quarterRss = Math.max(quarter.sampledPeakRss, quarter.maxRssBytes);
  console.log(
    `memory vs history: 4x the segments → peak RSS ${mib(quarterRss)} → ${mib(fullRss)} (${(fullRss / quarterRss).toFixed(2)}x)`,
  );
  console.log(
    `segment write throughput (hyparquet codec, while generating): ${Math.round(data.segmentWriteRowsPerSecond).toLocaleString('en')} rows/s`,
  );
  for (const [i, agreement] of agreements.entries()) {
    console.log(
      `agreement (history ×${HISTORY_SCALES[i]}): ${agreement.rows} rows compared, ${agreement.different} differ; ` +
        `${agreement.withValue} rows have a driver_hourly value`,
    );
    if (agreement.different > 0 || agreement.rows !== ENTITY_ROWS) process.exitCode = 1;
  }
}

exitOnFailure(main());
