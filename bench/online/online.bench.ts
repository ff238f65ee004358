/**
 * Serving bench: POST /get-online-features over loopback HTTP against a real Redis
 * (FEATURELOG_REDIS_URL, default redis://127.0.0.1:6379), beside the floor measured in the same run.
 *
 *   FEATURELOG_REDIS_URL=redis://127.0.0.1:36379 node_modules/.bin/node -r @swc-node/register bench/online/online.bench.ts
 *   BENCH_SCALE=0.2 …   (shorter runs; the data set stays 100,000 entities)
 *
 * Data: 100,000 drivers, 5 views of 10 features each (one Redis hash per driver, 5 fields), loaded
 * once and kept (marker key) so later runs start at once.
 * Cases: 1 view × 10 features, batch 1; a service of 5 views × 10 features, batch 1 and batch 100;
 * random drivers per request.
 * - serving: the app in a child process (the composition the lead will run), loaded from this
 *   process: first open-loop at a fixed rate (latency, counted from when each request was due), then
 *   by autocannon with 16 connections flat out (req/s). The serving process's CPU time per request
 *   is printed beside each: on a shared machine it moves less than latency does. So are the serving
 *   process's GC pauses (ms per 1,000 requests, the longest pause, minor / major collections, from
 *   V8's `gc` performance entries) and redis-server's CPU per request (INFO cpu before and after;
 *   Redis is shared, so it counts whatever else used it during the run).
 * - floor: ioredis sending the commands RedisOnlineStore.read sends (one HMGET of the views' fields
 *   per entity, Buffer replies), no HTTP and no decoding, one request in flight (latency) and 16
 *   in flight with auto-pipelining (req/s; the store batches concurrent reads the same way).
 * - Feast (unless BENCH_FEAST=0): Feast's Python feature server (`feast serve`) on the same Redis,
 *   loaded with the same rows (bench/online/feast), checked to answer what featurelog answers, then
 *   loaded by the same generator and autocannon runs; CPU per request over its gunicorn processes.
 * Latencies are recorded in microseconds (autocannon's own histograms count whole milliseconds).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { Agent, request as httpRequest } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import Table3 from 'cli-table3';
// autocannon's own histogram library, so its results keep their shape with microsecond values.
import * as hdr from 'hdr-histogram-js';
import Redis from 'ioredis';
import { SILENT_LOGGER, topicNames, type FeatureValue } from '@featurelog/domain';
import { FileEventLog } from '@featurelog/log';
import { createMetricsRegistry, GcPauses, type GcTotals } from '@featurelog/observability';
import { RedisOnlineStore, type OnlineRow } from '@featurelog/online-store';
import { RegistryFollower, type RegistryCodec } from '@featurelog/registry';
import { upsertChangeset } from '@featurelog/serving/testing';
import { createServingApp } from '@featurelog/app-serving';
import { exitOnFailure } from '../bench-entry';
import { driverDefinitions, driverFeatures, DRIVER_FEATURE_TYPES, DRIVER_VIEWS } from '../driver-features';
import { compareAnswers, FEAST_PRECISION_NOTE } from './feast/feast-compare';
import { startFeast, type FeastPeer } from './feast/feast-peer';

/** autocannon ships no types: the slice of it used here. */
interface CannonResult {
  latency: { p50: number; p99: number };
  requests: { average: number; total: number };
  errors: number;
  timeouts: number;
  non2xx: number;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const autocannon = require('autocannon') as (options: Record<string, unknown>) => Promise<CannonResult>;

const url = process.env.FEATURELOG_REDIS_URL ?? 'redis://127.0.0.1:6379';
const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const ENTITIES = 100_000;
const PROJECT = 'bench';
const KEY_PREFIX = 'bench_online';
const DURATION_S = Math.max(2, Math.round(10 * SCALE));
/** BENCH_FEAST=0 leaves Feast out (it installs into .venv/feast on first use and loads Redis anew each run). */
const WITH_FEAST = process.env.BENCH_FEAST !== '0';
const CONNECTIONS = 16;
const START = Date.now() * 1_000 - 60_000_000;

function features(entity: number, view: number): Record<string, FeatureValue> {
  const x = entity * 7 + view;
  return driverFeatures(x, START + x);
}

const jsonCodec: RegistryCodec = {
  encode: async (changeset) => Buffer.from(JSON.stringify(changeset)),
  decode: async (value) => JSON.parse(value.toString()) as never,
};

/** Child process: the serving app over the bench's Redis and a registry folded from a file log. */
async function serve(): Promise<void> {
  const directory = await mkdtemp(join(tmpdir(), 'bench-online-'));
  const log = await FileEventLog.open({ directory, fsync: 'never' });
  const topic = topicNames.registry(PROJECT);
  await log.ensureTopic({ name: topic, partitions: 1, config: {} });
  await log.append(topic, [{ key: null, value: await jsonCodec.encode(upsertChangeset(driverDefinitions())) }]);
  const follower = new RegistryFollower({ log, codec: jsonCodec, project: PROJECT });
  await follower.start('bench-registry');
  const onlineStore = await RedisOnlineStore.connect({ url, keyPrefix: KEY_PREFIX });
  const app = await createServingApp({
    project: PROJECT,
    onlineStore,
    log,
    follower,
    auth: {},
    metrics: createMetricsRegistry('serving'),
    logger: SILENT_LOGGER,
  });
  await app.listen(0, '127.0.0.1');
  process.send!({ url: await app.getUrl() });
  // The load process asks for the serving process's CPU time and GC pauses around each run (per
  // request): each ask ends a GC window and opens the next.
  const pauses = new GcPauses().start();
  process.on('message', (message) => {
    if (message === 'stats') process.send!({ cpu: process.cpuUsage(), gc: pauses.window() });
  });
  process.on('disconnect', () => {
    void (async () => {
      await app.close();
      await follower.stop();
      await onlineStore.close();
      await log.close();
      await rm(directory, { recursive: true, force: true });
      process.exit(0);
    })();
  });
}

/** Whether the loaded data reads back through this version of the store. */
async function readsBack(store: RedisOnlineStore): Promise<boolean> {
  try {
    const [[value] = []] = await store.read(PROJECT, [{ entityKey: 'driver_id=7', views: ['v0'] }]);
    return value !== null && value !== undefined;
  } catch {
    return false;
  }
}

async function load(): Promise<void> {
  const redis = new Redis(url);
  const marker = `${KEY_PREFIX}:__bench_loaded`;
  const store = await RedisOnlineStore.connect({ url, keyPrefix: KEY_PREFIX });
  if ((await store.checkLayout()).current && Number(await redis.get(marker)) === ENTITIES && (await readsBack(store))) {
    console.log(`data: ${ENTITIES} entities already loaded (marker ${marker})`);
    await store.close();
    redis.disconnect();
    return;
  }
  // Absent or partial: start from nothing (rebuildLayout removes every key of the prefix and marks
  // the layout, so that other connections, Feast's loader among them, read the store).
  await store.rebuildLayout();
  const started = performance.now();
  for (let first = 0; first < ENTITIES; first += 200) {
    const rows: OnlineRow[] = [];
    for (let entity = first; entity < Math.min(first + 200, ENTITIES); entity++) {
      DRIVER_VIEWS.forEach((view, v) =>
        rows.push({
          project: PROJECT,
          entityKey: `driver_id=${entity}`,
          view,
          version: {
            eventTimestamp: START + entity,
            createdTimestamp: null,
            position: { partition: 0, offset: entity },
          },
          features: features(entity, v),
        }),
      );
    }
    await store.writeBatch({ rows });
  }
  await redis.set(marker, String(ENTITIES));
  console.log(
    `data: loaded ${ENTITIES} entities x ${DRIVER_VIEWS.length} views in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  await store.close();
  redis.disconnect();
}

interface Case {
  name: string;
  batch: number;
  /** The views the request reads, every feature of each. */
  views: string[];
  body: (ids: number[]) => string;
  /** The same request to Feast's feature server (it has no `view:*`: the features are named). */
  feastBody: (ids: number[]) => string;
  /** Fixed request rate of the latency run. */
  rate: number;
}

const randomIds = (count: number) => Array.from({ length: count }, () => Math.floor(Math.random() * ENTITIES));

const ALL_CASES: Case[] = [
  {
    name: '1 view x 10 features, batch 1',
    batch: 1,
    views: ['v0'],
    rate: 1_000,
    body: (ids) => JSON.stringify({ features: ['v0:*'], entities: { driver_id: ids } }),
    feastBody: (ids) =>
      JSON.stringify({
        features: DRIVER_FEATURE_TYPES.map(([feature]) => `v0:${feature}`),
        entities: { driver_id: ids },
      }),
  },
  {
    name: 'service 5 x 10 features, batch 1',
    batch: 1,
    views: DRIVER_VIEWS,
    rate: 1_000,
    body: (ids) => JSON.stringify({ feature_service: 'svc50', entities: { driver_id: ids }, full_feature_names: true }),
    feastBody: (ids) =>
      JSON.stringify({ feature_service: 'svc50', entities: { driver_id: ids }, full_feature_names: true }),
  },
  {
    name: 'service 5 x 10 features, batch 100',
    batch: 100,
    views: DRIVER_VIEWS,
    rate: 200,
    body: (ids) => JSON.stringify({ feature_service: 'svc50', entities: { driver_id: ids }, full_feature_names: true }),
    feastBody: (ids) =>
      JSON.stringify({ feature_service: 'svc50', entities: { driver_id: ids }, full_feature_names: true }),
  },
];

/** BENCH_CASES=0,2 runs a subset. */
const CASES = process.env.BENCH_CASES
  ? process.env.BENCH_CASES.split(',').map((i) => ALL_CASES[Number(i)]!)
  : ALL_CASES;

interface Measured {
  p50: number;
  p99: number;
  rps: number;
  errors?: number;
  /** What the errors were, e.g. `3 HTTP 503, 2 ECONNRESET` (the fixed-rate run). */
  errorKinds?: string;
  /** CPU time (user + system) of the server's processes per request, microseconds. */
  cpuPerRequest?: number;
  /** The serving process's GC pauses over the run. */
  gc?: GcTotals;
  requests?: number;
  /** redis-server's CPU time (used_cpu_user + used_cpu_sys) per request over the run, microseconds. */
  redisCpuPerRequest?: number;
}

/**
 * A row of the table: latency and rate, then errors, serving CPU, serving GC (ms per 1,000 requests,
 * longest pause, minor / major count) and redis-server CPU where measured (`-` and blank where not).
 */
function measuredRow(name: string, what: string, load: string, measured: Measured): string[] {
  const gc = measured.gc;
  const requests = measured.requests ?? 0;
  return [
    name,
    what,
    load,
    measured.p50.toFixed(2),
    measured.p99.toFixed(2),
    measured.rps.toFixed(0),
    measured.errors === undefined ? '-' : String(measured.errors),
    measured.cpuPerRequest === undefined ? '' : measured.cpuPerRequest.toFixed(0),
    gc === undefined || requests === 0 ? '' : ((gc.ms * 1_000) / requests).toFixed(1),
    gc === undefined ? '' : gc.maxMs.toFixed(1),
    gc === undefined ? '' : `${gc.minor.count} / ${gc.major.count}`,
    measured.redisCpuPerRequest === undefined ? '' : measured.redisCpuPerRequest.toFixed(0),
  ];
}

/** A server's CPU time so far (µs, all its processes) and, for featurelog's, its GC pauses since the previous ask. */
interface ServerStats {
  cpu: number;
  gc?: GcTotals;
}

/** A server under load: where it listens, its request for a case, and its processes' stats so far. */
interface Target {
  base: string;
  body: (testCase: Case, ids: number[]) => string;
  stats: () => Promise<ServerStats>;
}

/** The serving child's CPU time so far, and its GC pauses since the previous ask. */
function childStats(child: ChildProcess): Promise<Required<ServerStats>> {
  return new Promise((resolve) => {
    const onMessage = (message: unknown) => {
      const { cpu, gc } = message as { cpu?: NodeJS.CpuUsage; gc?: GcTotals };
      if (cpu === undefined || gc === undefined) return;
      child.off('message', onMessage);
      resolve({ cpu: cpu.user + cpu.system, gc });
    };
    child.on('message', onMessage);
    child.send('stats');
  });
}

/** redis-server's CPU time so far (INFO cpu: used_cpu_user + used_cpu_sys), microseconds. */
async function redisCpu(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info)?.[1] ?? NaN);
  return (field('used_cpu_user') + field('used_cpu_sys')) * 1_000_000;
}

/**
 * Serving CPU, serving GC and redis-server CPU around one run. Redis is shared: its CPU includes
 * whatever else used it during the run (the floor's figures show what one read costs it alone).
 */
async function aroundRun(target: Target, redis: Redis) {
  const [before, redisBefore] = await Promise.all([target.stats(), redisCpu(redis)]);
  return async (requests: number) => {
    const [after, redisAfter] = await Promise.all([target.stats(), redisCpu(redis)]);
    return {
      requests,
      cpuPerRequest: (after.cpu - before.cpu) / Math.max(1, requests),
      gc: after.gc,
      redisCpuPerRequest: (redisAfter - redisBefore) / Math.max(1, requests),
    };
  };
}

function microsecondHistograms() {
  const latencies = hdr.build({
    useWebAssembly: true,
    bitBucketSize: 64,
    autoResize: true,
    lowestDiscernibleValue: 1,
    highestTrackableValue: 10_000_000,
    numberOfSignificantValueDigits: 3,
  });
  const record = latencies.recordValue.bind(latencies);
  const recordExpected = latencies.recordValueWithExpectedInterval.bind(latencies);
  latencies.recordValue = (ms: number) => record(Math.max(1, Math.round(ms * 1_000)));
  latencies.recordValueWithExpectedInterval = (ms: number, interval: number) =>
    recordExpected(Math.max(1, Math.round(ms * 1_000)), interval * 1_000);
  return { latencies };
}

/**
 * Open-loop load at a fixed rate: request k is due at start + k / rate and is sent then, whatever
 * the answers to earlier ones (keep-alive sockets, as many as are busy). Its latency counts from
 * when it was due, so a server that stalls is charged for every request that waited.
 * (autocannon's overallRate is not this: each connection sends its quota for the second back to
 * back and then idles until the next second, i.e. bursts at full speed; and it back-fills a sample
 * per expected interval for each slow answer.)
 */
async function paced(target: Target, redis: Redis, testCase: Case, rate: number): Promise<Measured> {
  const url = new URL(`${target.base}/get-online-features`);
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const { latencies } = microsecondHistograms();
  const total = Math.round(rate * DURATION_S);
  const finishRun = await aroundRun(target, redis);
  let sent = 0;
  let done = 0;
  let errors = 0;
  const errorKinds = new Map<string, number>();
  const started = performance.now();
  await new Promise<void>((resolve) => {
    const finish = (scheduled: number, error: string | undefined) => {
      latencies.recordValue(performance.now() - scheduled);
      if (error !== undefined) {
        errors++;
        errorKinds.set(error, (errorKinds.get(error) ?? 0) + 1);
      }
      if (++done === total) resolve();
    };
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - started) * rate) / 1_000) + 1);
      while (sent < due) {
        const scheduled = started + (sent * 1_000) / rate;
        sent++;
        const body = target.body(testCase, randomIds(testCase.batch));
        const outgoing = httpRequest(
          {
            agent,
            host: url.hostname,
            port: url.port,
            path: url.pathname,
            method: 'POST',
            headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
          },
          (response) => {
            response.resume();
            response.on('end', () =>
              finish(scheduled, response.statusCode === 200 ? undefined : `HTTP ${response.statusCode}`),
            );
          },
        );
        outgoing.on('error', (error: NodeJS.ErrnoException) => finish(scheduled, error.code ?? error.message));
        outgoing.end(body);
      }
      if (sent < total) setTimeout(tick, Math.max(0, started + (sent * 1_000) / rate - performance.now()));
    };
    tick();
  });
  const elapsed = (performance.now() - started) / 1_000;
  const measured = await finishRun(total);
  agent.destroy();
  // microsecondHistograms records milliseconds as microseconds.
  return {
    p50: latencies.getValueAtPercentile(50) / 1_000,
    p99: latencies.getValueAtPercentile(99) / 1_000,
    rps: total / elapsed,
    errors,
    errorKinds: [...errorKinds].map(([kind, count]) => `${count} ${kind}`).join(', '),
    ...measured,
  };
}

async function cannon(
  target: Target,
  redis: Redis,
  testCase: Case,
  options: { connections: number },
): Promise<Measured> {
  const finishRun = await aroundRun(target, redis);
  const result = await autocannon({
    url: `${target.base}/get-online-features`,
    connections: options.connections,
    duration: DURATION_S,
    histograms: microsecondHistograms(),
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        setupRequest: (request: Record<string, unknown>) => ({
          ...request,
          body: target.body(testCase, randomIds(testCase.batch)),
        }),
      },
    ],
  });
  const measured = await finishRun(result.requests.total);
  // autocannon counts a timeout among its errors too.
  const errors = result.errors + result.non2xx;
  const errorKinds = [
    result.timeouts > 0 ? `${result.timeouts} timeouts` : '',
    result.non2xx > 0 ? `${result.non2xx} non-2xx` : '',
    result.errors - result.timeouts > 0 ? `${result.errors - result.timeouts} socket errors` : '',
  ]
    .filter(Boolean)
    .join(', ');
  return {
    p50: result.latency.p50 / 1_000,
    p99: result.latency.p99 / 1_000,
    rps: result.requests.average,
    errors,
    errorKinds,
    ...measured,
  };
}

/** The fields serving asks Redis for in each case: one per view (its whole stored row). */
function caseFields(testCase: Case): string[] {
  return [...testCase.views];
}

async function floor(
  redis: Redis,
  testCase: Case,
): Promise<{ latency: Measured; throughput: number; redisCpuPerRequest: number }> {
  const fields = caseFields(testCase);
  // The commands RedisOnlineStore.read sends: one HMGET of the views' fields per entity.
  const once = async () => {
    const keys = randomIds(testCase.batch).map((id) => `${KEY_PREFIX}:${PROJECT}:{driver_id=${id}}`);
    await Promise.all(keys.map((key) => redis.hmgetBuffer(key, ...fields)));
  };
  const samples: number[] = [];
  const redisBefore = await redisCpu(redis);
  const deadline = performance.now() + (DURATION_S * 1_000) / 2;
  while (performance.now() < deadline) {
    const started = performance.now();
    await once();
    samples.push(performance.now() - started);
  }
  const redisLatencyRun = (await redisCpu(redis)) - redisBefore;
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!;
  let done = 0;
  const redisMid = await redisCpu(redis);
  const stopAt = performance.now() + (DURATION_S * 1_000) / 2;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (performance.now() < stopAt) {
        await once();
        done++;
      }
    }),
  );
  const redisThroughputRun = (await redisCpu(redis)) - redisMid;
  return {
    latency: {
      p50: at(0.5),
      p99: at(0.99),
      rps: samples.length / (DURATION_S / 2),
      redisCpuPerRequest: redisLatencyRun / samples.length,
    },
    throughput: done / (DURATION_S / 2),
    redisCpuPerRequest: redisThroughputRun / Math.max(1, done),
  };
}

async function warmUp(target: Target, testCase: Case): Promise<void> {
  // JIT, plan cache, connections: 2,000 requests, or 20 s for a server that answers fewer than 100/s.
  await autocannon({
    url: `${target.base}/get-online-features`,
    connections: 4,
    maxOverallRequests: 2_000,
    duration: 20,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: target.body(testCase, randomIds(testCase.batch)),
      },
    ],
  });
}

async function post(target: Target, body: string): Promise<unknown> {
  const response = await fetch(`${target.base}/get-online-features`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${target.base} answered ${response.status}: ${text.slice(0, 500)}`);
  return JSON.parse(text) as unknown;
}

/**
 * Before any timing: Feast answers each case's request with the values featurelog answers, for a
 * sample of entities (the first and last driver among them), else the bench stops here.
 */
async function checkFeastServesTheSame(featurelog: Target, feast: Target): Promise<void> {
  const types = new Map<string, string>(DRIVER_FEATURE_TYPES);
  // `view__feature` with full feature names, else `feature`.
  const typeOf = (column: string) =>
    types.get(column.includes('__') ? column.slice(column.indexOf('__') + 2) : column) as never;
  let entities = 0;
  for (const testCase of CASES) {
    for (let k = 0; k < (testCase.batch === 1 ? 20 : 3); k++) {
      const ids =
        k === 0 ? [0, ENTITIES - 1, ...randomIds(testCase.batch)].slice(0, testCase.batch) : randomIds(testCase.batch);
      const differences = compareAnswers(
        await post(featurelog, featurelog.body(testCase, ids)),
        await post(feast, feast.body(testCase, ids)),
        ['driver_id'],
        typeOf,
      );
      if (differences.length > 0) {
        throw new Error(
          `Feast does not serve what featurelog serves (${testCase.name}, drivers ${ids.slice(0, 10).join(',')}…):\n  ` +
            `${differences.slice(0, 20).join('\n  ')}${differences.length > 20 ? `\n  … ${differences.length - 20} more` : ''}`,
        );
      }
      entities += ids.length;
    }
  }
  console.log(
    `feast: answers equal featurelog's for ${entities} sampled entity rows over ${CASES.length} cases (${FEAST_PRECISION_NOTE})`,
  );
}

async function startFeastPeer(): Promise<FeastPeer> {
  const store = await RedisOnlineStore.connect({ url, keyPrefix: KEY_PREFIX });
  try {
    return await startFeast({
      redisUrl: url,
      store,
      project: PROJECT,
      entities: ENTITIES,
      entityKey: (id) => `driver_id=${id}`,
      entityName: 'driver',
      joinKey: 'driver_id',
      views: DRIVER_VIEWS,
      features: DRIVER_FEATURE_TYPES,
      ttlSeconds: 86_400,
      service: 'svc50',
    });
  } finally {
    await store.close();
  }
}

/** A progress line: the table comes at the end. */
function summary(fixed: Measured, flat: Measured): string {
  return (
    `p50/p99 ${fixed.p50.toFixed(2)}/${fixed.p99.toFixed(2)} ms at ${fixed.rps.toFixed(0)}/s, ` +
    `${flat.rps.toFixed(0)} req/s flat out` +
    (fixed.errorKinds ? `; errors at rate: ${fixed.errorKinds}` : '') +
    (flat.errorKinds ? `; errors flat out: ${flat.errorKinds}` : '')
  );
}

/** featurelog / Feast, to two places; blank where either is missing. */
function ratio(ours: number | undefined, theirs: number | undefined): string {
  return ours === undefined || theirs === undefined || theirs === 0 ? '' : (ours / theirs).toFixed(2);
}

async function main(): Promise<void> {
  await load();
  const feast = WITH_FEAST ? await startFeastPeer() : undefined;
  const child: ChildProcess = fork(__filename, ['serve'], {
    execArgv: [
      '-r',
      '@swc-node/register',
      ...(process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : []),
      // e.g. BENCH_SERVING_FLAGS=--trace-gc: GC pauses of the serving process, on this process's stdout.
      ...(process.env.BENCH_SERVING_FLAGS?.split(' ').filter(Boolean) ?? []),
    ],
  });
  const base = await new Promise<string>((resolve, reject) => {
    child.once('message', (message) => resolve((message as { url: string }).url));
    child.once('exit', (code) => reject(new Error(`serving child exited with ${code}`)));
  });
  const serving: Target = { base, body: (testCase, ids) => testCase.body(ids), stats: () => childStats(child) };
  const feastTarget: Target | undefined = feast && {
    base: feast.base,
    body: (testCase, ids) => testCase.feastBody(ids),
    stats: async () => ({ cpu: await feast.cpu() }),
  };
  // Commands issued in the same tick go out in one write, as RedisOnlineStore.read batches concurrent reads.
  const redis = new Redis(url, { enableAutoPipelining: true });
  const table = new Table3({
    head: [
      'case',
      'what',
      'rate',
      'p50 ms',
      'p99 ms',
      'req/s',
      'errors',
      'server CPU µs/req',
      'server GC ms/1k req',
      'GC max pause ms',
      'GCs minor / major',
      'redis CPU µs/req',
    ],
  });
  try {
    if (feastTarget) await checkFeastServesTheSame(serving, feastTarget);
    for (const testCase of CASES) {
      await warmUp(serving, testCase);
      const fixed = await paced(serving, redis, testCase, testCase.rate);
      const flat = await cannon(serving, redis, testCase, { connections: CONNECTIONS });
      const bare = await floor(redis, testCase);
      console.log(`${testCase.name}: featurelog ${summary(fixed, flat)}`);
      table.push(
        measuredRow(testCase.name, 'serving HTTP', `${testCase.rate}/s`, fixed),
        measuredRow('', 'serving HTTP', `${CONNECTIONS} conns`, flat),
        measuredRow('', 'floor ioredis', '1 in flight', bare.latency),
        [
          '',
          'floor ioredis',
          `${CONNECTIONS} in flight`,
          '',
          '',
          bare.throughput.toFixed(0),
          '-',
          '',
          '',
          '',
          '',
          bare.redisCpuPerRequest.toFixed(0),
        ],
        ['', 'ratio req/s', 'serving / floor', '', '', (flat.rps / bare.throughput).toFixed(2), '', '', '', '', '', ''],
      );
      if (feastTarget) {
        await warmUp(feastTarget, testCase);
        const feastFixed = await paced(feastTarget, redis, testCase, testCase.rate);
        const feastFlat = await cannon(feastTarget, redis, testCase, { connections: CONNECTIONS });
        console.log(`${testCase.name}: Feast ${summary(feastFixed, feastFlat)}`);
        table.push(
          measuredRow('', 'Feast HTTP', `${testCase.rate}/s`, feastFixed),
          measuredRow('', 'Feast HTTP', `${CONNECTIONS} conns`, feastFlat),
          [
            '',
            'featurelog / Feast',
            `at ${testCase.rate}/s`,
            ratio(fixed.p50, feastFixed.p50),
            ratio(fixed.p99, feastFixed.p99),
            '',
            '',
            ratio(fixed.cpuPerRequest, feastFixed.cpuPerRequest),
            '',
            '',
            '',
            ratio(fixed.redisCpuPerRequest, feastFixed.redisCpuPerRequest),
          ],
          [
            '',
            'featurelog / Feast',
            `${CONNECTIONS} conns`,
            '',
            '',
            ratio(flat.rps, feastFlat.rps),
            '',
            ratio(flat.cpuPerRequest, feastFlat.cpuPerRequest),
            '',
            '',
            '',
            ratio(flat.redisCpuPerRequest, feastFlat.redisCpuPerRequest),
          ],
        );
      }
    }
  } finally {
    redis.disconnect();
    child.disconnect();
    await feast?.stop();
  }
  // Serving, Redis and the load generator share the machine: its load says how far to trust the figures.
  console.log(
    `Redis ${url}, ${ENTITIES} entities, ${DURATION_S} s per run, loopback, one serving process; ` +
      `${cpus().length} CPUs, load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')} at the end`,
  );
  if (feast) console.log(`Feast: ${feast.settings}`);
  console.log(table.toString());
}

exitOnFailure(process.argv[2] === 'serve' ? serve() : main());
