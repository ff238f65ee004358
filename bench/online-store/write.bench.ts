/**
 * Online store bench against a real Redis (FEATURELOG_REDIS_URL, default redis://127.0.0.1:6379):
 *
 *   FEATURELOG_REDIS_URL=redis://127.0.0.1:16380 node_modules/.bin/node -r @swc-node/register bench/online-store/write.bench.ts
 *   BENCH_SCALE=0.1 … (short mode)
 *
 * Writes: rows of one view with 10 features, in batches of 500, one batch in flight.
 * - writeBatch: RedisOnlineStore (validation, encoding, one EVALSHA per batch comparing versions in Lua).
 * - floor: the same field and value (the view's whole stored row, encodeViewValue) as a raw ioredis
 *   pipeline of 500 HSET per batch, encoded beforehand, no comparison: what Redis costs for the bytes alone.
 *   Two passes each: new entities (no stored version), then the same entities again with newer rows
 *   (every row compared against a stored version, and wins).
 * Reads: 1 entity × 5 views × 10 features, one request at a time, and 100 entities × 5 views.
 * - read: RedisOnlineStore.read of whole rows (decode 50 values).
 * - readStored: what serving calls: the 10 features of each view named, stored texts undecoded.
 * - floor: one HMGET of the 5 view fields per entity (Buffer replies), left undecoded.
 * Cases alternate in rounds, so drift in the machine hits both alike; the best round is reported.
 */
import { randomBytes } from 'node:crypto';
import Table3 from 'cli-table3';
import type { FeatureValue } from '@featurelog/domain';
import { encodeStoredValue, encodeViewValue, RedisOnlineStore, type OnlineRow } from '@featurelog/online-store';
import Redis from 'ioredis';
import { driverFeatures } from '../driver-features';

const url = process.env.FEATURELOG_REDIS_URL ?? 'redis://127.0.0.1:6379';
const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const ENTITIES = Math.round(50_000 * SCALE);
const BATCH = 500;
const ROUNDS = 3;
const READS = Math.round(20_000 * SCALE);
const VIEWS = ['v0', 'v1', 'v2', 'v3', 'v4'];
const START = 1_735_689_600_000_000; // 2025-01-01T00:00:00Z in microseconds

function features(entity: number, pass: number): Record<string, FeatureValue> {
  const x = entity * 7 + pass;
  return driverFeatures(x, START + x * 1_000_003);
}

function rowsOf(project: string, view: string, pass: number): OnlineRow[] {
  return Array.from({ length: ENTITIES }, (_, entity) => ({
    project,
    entityKey: `driver:${entity}`,
    view,
    version: {
      eventTimestamp: START + pass * 1_000_000,
      createdTimestamp: null,
      position: { partition: 0, offset: pass * ENTITIES + entity },
    },
    features: features(entity, pass),
  }));
}

/** The floor's commands, encoded before timing: the same key, field and value the script writes. */
function hsetArgsOf(rows: OnlineRow[]): Array<[string, Array<string | Buffer>]> {
  return rows.map((row) => [`flbench:${row.project}:{${row.entityKey}}`, [row.view, encodeViewValue(row)]]);
}

interface WriteFigures {
  rowsPerSecond: number;
  /**
   * CPU time the Redis process spent (INFO cpu, user + system) per row: what the case costs Redis,
   * parsing and networking included. Unlike wall-clock figures it does not grow when the machine is
   * busy and the scheduler preempts Redis in the middle of a script.
   */
  redisCpuMicrosPerRow: number;
}

async function redisCpuMicros(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const seconds = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? NaN);
  return (seconds('used_cpu_user') + seconds('used_cpu_sys')) * 1e6;
}

async function timeWrites(
  redis: Redis,
  batches: number,
  write: (start: number) => Promise<unknown>,
): Promise<WriteFigures> {
  const cpuBefore = await redisCpuMicros(redis);
  const started = process.hrtime.bigint();
  for (let b = 0; b < batches; b++) await write(b * BATCH);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = (await redisCpuMicros(redis)) - cpuBefore;
  return { rowsPerSecond: (batches * BATCH) / seconds, redisCpuMicrosPerRow: cpu / (batches * BATCH) };
}

function percentiles(samplesNs: number[]): { p50: number; p99: number } {
  const sorted = [...samplesNs].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! / 1_000;
  return { p50: at(0.5), p99: at(0.99) };
}

async function timeReads(count: number, read: () => Promise<unknown>): Promise<{ p50: number; p99: number }> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = process.hrtime.bigint();
    await read();
    samples.push(Number(process.hrtime.bigint() - started));
  }
  return percentiles(samples);
}

async function main(): Promise<void> {
  const store = await RedisOnlineStore.connect({ url, keyPrefix: 'flbench', commandTimeoutMs: 30_000 });
  const redis = new Redis(url);
  const tag = randomBytes(3).toString('hex');
  const batches = Math.floor(ENTITIES / BATCH);
  const best: Record<string, WriteFigures> = {};
  const keep = (key: string, figures: WriteFigures) => {
    const held = best[key];
    best[key] = {
      rowsPerSecond: Math.max(held?.rowsPerSecond ?? 0, figures.rowsPerSecond),
      redisCpuMicrosPerRow: Math.min(held?.redisCpuMicrosPerRow ?? Infinity, figures.redisCpuMicrosPerRow),
    };
  };

  try {
    for (let round = 0; round < ROUNDS; round++) {
      const scriptProject = `w${tag}s${round}`;
      const floorProject = `w${tag}f${round}`;
      for (const pass of [0, 1]) {
        const rows = rowsOf(scriptProject, 'stats', pass);
        keep(
          `script${pass}`,
          await timeWrites(redis, batches, (start) => store.writeBatch({ rows: rows.slice(start, start + BATCH) })),
        );
        const commands = hsetArgsOf(rowsOf(floorProject, 'stats', pass));
        const floor = await timeWrites(redis, batches, async (start) => {
          const pipeline = redis.pipeline();
          for (const [hashKey, args] of commands.slice(start, start + BATCH)) pipeline.hset(hashKey, ...args);
          await pipeline.exec();
        });
        keep(`floor${pass}`, floor);
      }
    }

    // Reads: entities holding 5 views of 10 features.
    const readProject = `r${tag}`;
    for (const view of VIEWS) await store.writeBatch({ rows: rowsOf(readProject, view, 0).slice(0, 100) });
    const hashKey = `flbench:${readProject}:{driver:42}`;
    const names = Object.keys(features(0, 0));
    const selection = VIEWS.map(() => names);
    const request = [{ entityKey: 'driver:42', views: VIEWS }];
    const selected = [{ entityKey: 'driver:42', views: VIEWS, features: selection }];
    const hundred = Array.from({ length: 100 }, (_, i) => ({
      entityKey: `driver:${i}`,
      views: VIEWS,
      features: selection,
    }));
    const [decoded] = await store.read(readProject, request);
    if (decoded?.some((value) => value === null)) throw new Error('bench read found no value');
    // The other way to read many entities, measured against it: one script call returning every HMGET.
    const readSha = (await redis.script(
      'LOAD',
      "local out = {} for i = 1, #KEYS do out[i] = redis.call('HMGET', KEYS[i], unpack(ARGV)) end return out",
    )) as string;
    const cases: Record<string, () => Promise<unknown>> = {
      'read (whole rows, decoded)': () => store.read(readProject, request),
      'readStored (10 named features per view)': () => store.readStored(readProject, selected),
      'floor (HMGET of 5 fields, undecoded)': () => redis.hmgetBuffer(hashKey, ...VIEWS),
      '100 entities: readStored': () => store.readStored(readProject, hundred),
      '100 entities: floor (one EVALSHA, undecoded)': () =>
        redis.callBuffer('evalsha', [
          readSha,
          100,
          ...hundred.map(({ entityKey }) => `flbench:${readProject}:{${entityKey}}`),
          ...VIEWS,
        ]),
      '100 entities: floor (100 HMGET pipelined)': async () => {
        const pipeline = redis.pipeline();
        for (let i = 0; i < 100; i++) pipeline.hmgetBuffer(`flbench:${readProject}:{driver:${i}}`, ...VIEWS);
        await pipeline.exec();
      },
    };
    const bestReads: Record<string, { p50: number; p99: number }> = {};
    for (let round = 0; round < ROUNDS; round++) {
      for (const [label, read] of Object.entries(cases)) {
        const figures = await timeReads(label.startsWith('100') ? Math.ceil(READS / 20) : READS, read);
        if (figures.p50 < (bestReads[label]?.p50 ?? Infinity)) bestReads[label] = figures;
      }
    }

    // What the stored form costs in bytes, beside plain JSON of the same values.
    const sample = features(42, 0);
    const formBytes = Object.values(sample).reduce<number>(
      (sum, value) => sum + Buffer.byteLength(encodeStoredValue(value)),
      0,
    );
    const jsonBytes = Object.values(sample).reduce<number>(
      (sum, value) => sum + Buffer.byteLength(JSON.stringify(value)),
      0,
    );
    const memory = (await redis.memory('USAGE', hashKey)) as number;

    const writes = new Table3({
      head: [
        'write, 10 features, batches of 500',
        'writeBatch rows/s',
        'HSET floor rows/s',
        'ratio',
        'Redis CPU µs/row: script',
        'floor',
        'ratio',
      ],
    });
    for (const [pass, label] of [
      [0, 'new entities'],
      [1, 'newer rows, same entities'],
    ] as const) {
      const script = best[`script${pass}`]!;
      const floor = best[`floor${pass}`]!;
      writes.push([
        label,
        fmt(script.rowsPerSecond),
        fmt(floor.rowsPerSecond),
        ratio(script.rowsPerSecond, floor.rowsPerSecond),
        script.redisCpuMicrosPerRow.toFixed(1),
        floor.redisCpuMicrosPerRow.toFixed(1),
        ratio(script.redisCpuMicrosPerRow, floor.redisCpuMicrosPerRow),
      ]);
    }
    const reads = new Table3({ head: ['read, 5 views × 10 features', 'p50 µs', 'p99 µs'] });
    for (const [label, figures] of Object.entries(bestReads)) {
      reads.push([label, figures.p50.toFixed(0), figures.p99.toFixed(0)]);
    }
    console.log(`redis ${url}, ${ENTITIES} entities per pass, best of ${ROUNDS} rounds, ${READS} reads per round`);
    console.log(writes.toString());
    console.log(reads.toString());
    console.log(
      `stored form of the 10 values: ${formBytes} bytes (JSON: ${jsonBytes}); hash of 5 views: ${memory} bytes in Redis`,
    );
  } finally {
    await store.close();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `flbench:*${tag}*`, 'COUNT', 10_000);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
    await redis.quit();
  }
}

function fmt(rate: number): string {
  return Math.round(rate).toLocaleString('en-US');
}

function ratio(a: number, b: number): string {
  return `${(a / b).toFixed(2)}×`;
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
