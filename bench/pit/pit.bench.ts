/**
 * Point-in-time join bench: 1M entity rows against 3 views holding 10M history rows in all, generated
 * in memory as sorted streams (each view: 3 segments + a log tail, k-way merged by mergeSorted).
 *
 *   node_modules/.bin/node -r @swc-node/register bench/pit/pit.bench.ts
 *   BENCH_SCALE=0.1 … (short mode: 100k entity rows, 1M history rows)
 *
 * Each case runs in its own child process so that its peak RSS is its own. RSS is sampled after every
 * output batch (the join never yields to the event loop, so a timer would not fire).
 *
 * Cases:
 * - generate: only drains the merged input streams; the floor the join's cost sits on.
 * - streaming / streaming as-served: the library's one-pass join (the 3 views share the driver key).
 * - naive: the obvious in-memory join (history grouped by key, every candidate of the key scanned per
 *   entity row) on a 1% sample of drivers, extrapolated ×100 for time and memory. Per-key work is
 *   independent, so the extrapolation is linear. It also checks the streaming answer on that sample.
 */
import { spawnSync } from 'node:child_process';
import Table3 from 'cli-table3';
import { compareRowVersions, mergeSorted, type FeatureValue } from '@featurelog/domain';
import {
  compareHistoryRows,
  pointInTimeJoin,
  PitJoinStats,
  type EntityRow,
  type HistoryRow,
  type PitView,
} from '@featurelog/pit';

const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const ENTITY_ROWS = Math.round(1_000_000 * SCALE);
const DRIVERS = Math.round(100_000 * SCALE);
const ROWS_PER_DRIVER = ENTITY_ROWS / DRIVERS;
const BATCH = 4096;
const SOURCES = 4; // 3 segments + the log tail
const SAMPLE_EVERY = 100; // naive baseline: 1% of drivers
const DAY = 86_400_000_000;
const START = 1_735_689_600_000_000; // 2025-01-01T00:00:00Z
const SPAN = 30 * DAY;

interface ViewShape {
  name: string;
  rowsPerDriver: number; // 50 + 30 + 20 = 100 per driver → 10M rows at scale 1
  ttlSeconds: number;
  features: string[];
  salt: number;
}
const VIEWS: ViewShape[] = [
  { name: 'driver_hourly', rowsPerDriver: 50, ttlSeconds: 86_400, features: ['trips', 'rating'], salt: 1 },
  { name: 'driver_daily', rowsPerDriver: 30, ttlSeconds: 0, features: ['acceptance'], salt: 2 },
  { name: 'driver_weekly', rowsPerDriver: 20, ttlSeconds: 7 * 86_400, features: ['earnings', 'active'], salt: 3 },
];

/** Stateless integer hash, so any source can regenerate any (driver, row) without shared PRNG state. */
function hash(a: number, b: number, c: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x7f4a7c15, 0xc2b2ae35) ^ Math.imul(c, 0x27d4eb2f);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return (h >>> 0) / 4294967296;
}

const driverKey = (d: number) => `driver-${String(d).padStart(7, '0')}`;

function historyRow(view: ViewShape, d: number, j: number): HistoryRow {
  const interval = SPAN / view.rowsPerDriver;
  const eventTimestamp = START + Math.floor(j * interval + hash(d, j, view.salt) * interval);
  const r = hash(d, j, view.salt + 100);
  return {
    entityKey: driverKey(d),
    eventTimestamp,
    createdTimestamp: r < 0.3 ? null : eventTimestamp + Math.floor(r * 60_000_000),
    position: { partition: d % 8, offset: d * view.rowsPerDriver + j },
    appendedAt: eventTimestamp + Math.floor(hash(d, j, view.salt + 200) * 2 * DAY), // late arrivals, for as-served
    features: Object.fromEntries(view.features.map((f, i) => [f, r < 0.05 ? null : Math.floor(r * 1000) + i])),
  };
}

/** One sorted source of a view: the rows of each driver whose index falls to this source. */
async function* historySource(
  view: ViewShape,
  drivers: readonly number[],
  source: number,
): AsyncGenerator<HistoryRow[]> {
  let batch: HistoryRow[] = [];
  for (const d of drivers) {
    for (let j = source; j < view.rowsPerDriver; j += SOURCES) {
      batch.push(historyRow(view, d, j));
      if (batch.length === BATCH) {
        yield batch;
        batch = [];
      }
    }
  }
  if (batch.length > 0) yield batch;
}

function history(view: ViewShape, drivers: readonly number[]): AsyncIterable<HistoryRow[]> {
  const sources = Array.from({ length: SOURCES }, (_, s) => historySource(view, drivers, s));
  return mergeSorted(sources, compareHistoryRows, { batchSize: BATCH });
}

function entityRowsOf(d: number): EntityRow[] {
  const rows: EntityRow[] = [];
  for (let r = 0; r < ROWS_PER_DRIVER; r++) {
    const rowIndex = d * ROWS_PER_DRIVER + r;
    rows.push({
      rowIndex,
      timestamp: START + Math.floor(hash(d, r, 99) * (SPAN + 2 * DAY)),
      entityKeys: { driver: driverKey(d) },
      columns: { label: r % 2 },
    });
  }
  return rows.sort((a, b) => a.timestamp - b.timestamp || a.rowIndex - b.rowIndex);
}

async function* entityRows(drivers: readonly number[]): AsyncGenerator<EntityRow[]> {
  let batch: EntityRow[] = [];
  for (const d of drivers) {
    batch.push(...entityRowsOf(d));
    if (batch.length >= BATCH) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

const allDrivers = Array.from({ length: DRIVERS }, (_, d) => d);
const sampleDrivers = allDrivers.filter((d) => d % SAMPLE_EVERY === 0);

class RssPeak {
  readonly start = process.memoryUsage.rss();
  peak = this.start;
  sample(): void {
    const rss = process.memoryUsage.rss();
    if (rss > this.peak) this.peak = rss;
  }
}

/** Wall and CPU time: other work on a shared machine stretches the first, hardly the second. */
class Clock {
  private readonly wall = performance.now();
  private readonly cpu = process.cpuUsage();
  read(): { seconds: number; cpuSeconds: number } {
    const cpu = process.cpuUsage(this.cpu);
    return { seconds: (performance.now() - this.wall) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
  }
}

interface CaseResult {
  seconds: number;
  cpuSeconds: number;
  startRssBytes: number;
  entityRows: number;
  historyRows: number;
  peakRssBytes: number;
  note?: string;
}

async function runGenerate(): Promise<CaseResult> {
  const rss = new RssPeak();
  const clock = new Clock();
  let entity = 0;
  let historyRows = 0;
  for await (const batch of entityRows(allDrivers)) entity += batch.length;
  for (const view of VIEWS) {
    for await (const batch of history(view, allDrivers)) {
      historyRows += batch.length;
      rss.sample();
    }
  }
  return { ...clock.read(), startRssBytes: rss.start, entityRows: entity, historyRows, peakRssBytes: rss.peak };
}

async function runStreaming(asServed: boolean): Promise<CaseResult> {
  const rss = new RssPeak();
  const stats = new PitJoinStats();
  const views: PitView[] = VIEWS.map((v) => ({ ...v, history: history(v, allDrivers) }));
  const clock = new Clock();
  let out = 0;
  for await (const batch of pointInTimeJoin(entityRows(allDrivers), { keyName: 'driver', views, asServed, stats })) {
    out += batch.length;
    rss.sample();
  }
  return {
    ...clock.read(),
    startRssBytes: rss.start,
    entityRows: out,
    historyRows: stats.historyRowsRead,
    peakRssBytes: rss.peak,
    note: `peak held history rows ${stats.peakHeldHistoryRows}`,
  };
}

/** The obvious join: load the history, group it by key, scan the key's rows for every entity row. */
async function runNaive(): Promise<CaseResult> {
  const rss = new RssPeak();
  const heapBefore = process.memoryUsage().heapUsed;
  const clock = new Clock();
  const grouped = new Map<string, Map<string, HistoryRow[]>>();
  let historyRows = 0;
  for (const view of VIEWS) {
    const byKey = new Map<string, HistoryRow[]>();
    for await (const batch of history(view, sampleDrivers)) {
      for (const row of batch) {
        const rows = byKey.get(row.entityKey);
        if (rows) rows.push(row);
        else byKey.set(row.entityKey, [row]);
      }
      historyRows += batch.length;
    }
    grouped.set(view.name, byKey);
  }
  rss.sample();
  const historyHeap = process.memoryUsage().heapUsed - heapBefore;
  const joined = new Map<number, Record<string, Record<string, FeatureValue>>>();
  let entity = 0;
  for await (const batch of entityRows(sampleDrivers)) {
    for (const row of batch) {
      const t = row.timestamp;
      const features: Record<string, Record<string, FeatureValue>> = {};
      for (const view of VIEWS) {
        let winner: HistoryRow | undefined;
        for (const h of grouped.get(view.name)!.get(row.entityKeys.driver!) ?? []) {
          if (h.eventTimestamp > t || (view.ttlSeconds > 0 && h.eventTimestamp < t - view.ttlSeconds * 1e6)) continue;
          if (winner === undefined || compareRowVersions(h, winner) > 0) winner = h;
        }
        features[view.name] = Object.fromEntries(view.features.map((f) => [f, winner?.features[f] ?? null]));
      }
      joined.set(row.rowIndex, features);
      entity += 1;
    }
    rss.sample();
  }
  const { seconds, cpuSeconds } = clock.read();

  // The streaming join must give the same answer on the sample.
  let mismatches = 0;
  const views: PitView[] = VIEWS.map((v) => ({ ...v, history: history(v, sampleDrivers) }));
  for await (const batch of pointInTimeJoin(entityRows(sampleDrivers), { keyName: 'driver', views })) {
    for (const row of batch) {
      if (JSON.stringify(row.features) !== JSON.stringify(joined.get(row.rowIndex))) mismatches += 1;
    }
  }
  const factor = DRIVERS / sampleDrivers.length;
  return {
    seconds: seconds * factor,
    cpuSeconds: cpuSeconds * factor,
    startRssBytes: rss.start,
    entityRows: Math.round(entity * factor),
    historyRows: Math.round(historyRows * factor),
    peakRssBytes: rss.peak,
    note:
      `1% sample ×${factor.toFixed(0)}: ${seconds.toFixed(2)} s measured; its history would take ` +
      `~${((historyHeap * factor) / 2 ** 30).toFixed(1)} GB of heap in full; mismatches vs streaming: ${mismatches}`,
  };
}

const CASES: Record<string, () => Promise<CaseResult>> = {
  generate: runGenerate,
  streaming: () => runStreaming(false),
  'streaming as-served': () => runStreaming(true),
  naive: runNaive,
};

async function child(name: string): Promise<void> {
  const run = CASES[name];
  if (!run) throw new Error(`unknown case ${name}`);
  process.stdout.write(JSON.stringify(await run()));
}

function parent(): void {
  const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`;
  console.log(
    `point-in-time join: ${ENTITY_ROWS.toLocaleString()} entity rows, ${DRIVERS.toLocaleString()} drivers, ` +
      `3 views, ${(DRIVERS * 100).toLocaleString()} history rows (BENCH_SCALE=${SCALE})`,
  );
  const results = new Map<string, CaseResult>();
  for (const name of Object.keys(CASES)) {
    const proc = spawnSync(process.execPath, [...process.execArgv, __filename, name], {
      encoding: 'utf8',
      maxBuffer: 1 << 20,
    });
    if (proc.status !== 0) throw new Error(`case ${name} failed:\n${proc.stderr}`);
    results.set(name, JSON.parse(proc.stdout) as CaseResult);
  }
  const naive = results.get('naive')!;
  const table = new Table3({
    style: { head: [], border: [] },
    head: [
      'case',
      'wall s',
      'CPU s',
      'entity rows/CPU s',
      'history rows/CPU s',
      'RSS start → peak',
      'vs naive (CPU)',
      'notes',
    ],
  });
  for (const [name, r] of results) {
    table.push([
      name,
      r.seconds.toFixed(2),
      r.cpuSeconds.toFixed(2),
      Math.round(r.entityRows / r.cpuSeconds).toLocaleString(),
      Math.round(r.historyRows / r.cpuSeconds).toLocaleString(),
      `${mb(r.startRssBytes)} → ${mb(r.peakRssBytes)}${name === 'naive' ? ' (sample)' : ''}`,
      name === 'generate' ? '—' : `${(naive.cpuSeconds / r.cpuSeconds).toFixed(2)}×`,
      r.note ?? '',
    ]);
  }
  console.log(table.toString());
}

const caseName = process.argv[2];
if (caseName === undefined) parent();
else void child(caseName);
