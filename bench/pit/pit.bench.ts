/**
 * Point-in-time join bench: the engine production runs — libs/pit's columnar join, as an export runs it
 * on one frame — on 1M entity rows against 3 views holding 10M history rows in all, generated in memory
 * as each view's sorted sources (3 segments + a log tail, in row groups of 65,536 rows as the compactor
 * writes them), beside the obvious in-memory join as the baseline.
 *
 *   node_modules/.bin/node -r @swc-node/register bench/pit/pit.bench.ts
 *   BENCH_SCALE=0.1 … (short mode: 100k entity rows, 1M history rows)
 *
 * Each case runs in its own child process so that its peak RSS is its own. RSS is sampled after every
 * history chunk (the join never yields to the event loop, so a timer would not fire).
 *
 * Cases:
 * - generate: only builds the entity rows and drains every view's sources; the floor the join's cost sits on.
 * - columnar / columnar as-served: the export's join on one thread (its workers share out segments, so
 *   CPU time is the figure to compare): the entity rows sorted by key (sortEntities), each source joined
 *   on its own into the view's winners (joinHistorySource, no merge), the winners laid out in row order
 *   (columnsInRowOrder). Keys are strings (the form of any key but a single integer one).
 * - columnar, integer keys: the same with the driver id as a number, the form of a single integer join key.
 * - naive: the obvious in-memory join (history grouped by key, every candidate of the key scanned per
 *   entity row by the domain's pointInTimeLookup, the oracle) on a 1% sample of drivers, extrapolated ×100
 *   for time and memory. Per-key work is independent, so the extrapolation is linear. It also checks the
 *   columnar answer on that sample.
 */
import { spawnSync } from 'node:child_process';
import Table3 from 'cli-table3';
import { pointInTimeLookup, type FeatureValue, type PitCandidate } from '@featurelog/domain';
import { joinHistorySource, sortEntities, ViewWinners, type ColumnKey, type HistoryColumns } from '@featurelog/pit';

const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const ENTITY_ROWS = Math.round(1_000_000 * SCALE);
const DRIVERS = Math.round(100_000 * SCALE);
const ROWS_PER_DRIVER = ENTITY_ROWS / DRIVERS;
const CHUNK = 65_536; // rows per row group of a segment
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

/** A driver's key: the padded string sorts as the number does, so both forms see the same order. */
type KeyOf = (d: number) => ColumnKey;
const stringKey: KeyOf = (d) => `driver-${String(d).padStart(7, '0')}`;
const integerKey: KeyOf = (d) => d;

/** Row j of driver d in a view: the same whichever case or source asks. */
function historyRow(view: ViewShape, d: number, j: number) {
  const interval = SPAN / view.rowsPerDriver;
  const eventTimestamp = START + Math.floor(j * interval + hash(d, j, view.salt) * interval);
  const r = hash(d, j, view.salt + 100);
  return {
    eventTimestamp,
    createdTimestamp: r < 0.3 ? null : eventTimestamp + Math.floor(r * 60_000_000),
    position: { partition: d % 8, offset: d * view.rowsPerDriver + j },
    appendedAt: eventTimestamp + Math.floor(hash(d, j, view.salt + 200) * 2 * DAY), // late arrivals, for as-served
    features: view.features.map((_, i) => (r < 0.05 ? null : Math.floor(r * 1000) + i)),
  };
}

/**
 * One sorted source of a view, as row groups of columns (numbers in typed arrays, as a segment is read):
 * the rows of each driver whose index falls to this source.
 */
function* historySource(
  view: ViewShape,
  drivers: readonly number[],
  source: number,
  keyOf: KeyOf,
): Generator<HistoryColumns> {
  let chunk = new Chunk(view, keyOf === integerKey);
  for (const d of drivers) {
    const key = keyOf(d);
    for (let j = source; j < view.rowsPerDriver; j += SOURCES) {
      chunk.push(key, historyRow(view, d, j));
      if (chunk.length === CHUNK) {
        yield chunk.columns();
        chunk = new Chunk(view, keyOf === integerKey);
      }
    }
  }
  if (chunk.length > 0) yield chunk.columns();
}

class Chunk {
  length = 0;
  private readonly keys: Float64Array | ColumnKey[];
  private readonly events = new Float64Array(CHUNK);
  private readonly created = new Float64Array(CHUNK);
  private readonly partitions = new Float64Array(CHUNK);
  private readonly offsets = new Float64Array(CHUNK);
  private readonly appended = new Float64Array(CHUNK);
  private readonly features: FeatureValue[][];

  constructor(view: ViewShape, numericKeys: boolean) {
    this.keys = numericKeys ? new Float64Array(CHUNK) : [];
    this.features = view.features.map(() => []);
  }

  push(key: ColumnKey, row: ReturnType<typeof historyRow>): void {
    const at = this.length++;
    this.keys[at] = key as never;
    this.events[at] = row.eventTimestamp;
    this.created[at] = row.createdTimestamp ?? Number.NEGATIVE_INFINITY;
    this.partitions[at] = row.position.partition;
    this.offsets[at] = row.position.offset;
    this.appended[at] = row.appendedAt;
    for (let f = 0; f < this.features.length; f++) this.features[f]!.push(row.features[f]!);
  }

  columns(): HistoryColumns {
    const cut = (array: Float64Array) => array.subarray(0, this.length);
    return {
      length: this.length,
      keys: this.keys instanceof Float64Array ? cut(this.keys) : this.keys,
      eventTimestamps: cut(this.events),
      createdTimestamps: cut(this.created),
      partitions: cut(this.partitions),
      offsets: cut(this.offsets),
      appendedAt: cut(this.appended),
      features: this.features,
      featureValue: null,
    };
  }
}

/** The entity rows of `drivers` as the join takes them from a frame: keys and times, in file order. */
function entityColumns(drivers: readonly number[], keyOf: KeyOf): { keys: ColumnKey[]; timestamps: Float64Array } {
  const keys: ColumnKey[] = [];
  const timestamps = new Float64Array(drivers.length * ROWS_PER_DRIVER);
  for (const d of drivers) {
    for (let r = 0; r < ROWS_PER_DRIVER; r++) {
      timestamps[keys.length] = START + Math.floor(hash(d, r, 99) * (SPAN + 2 * DAY));
      keys.push(keyOf(d));
    }
  }
  return { keys, timestamps };
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
  const entities = entityColumns(allDrivers, stringKey);
  let historyRows = 0;
  for (const view of VIEWS) {
    for (let s = 0; s < SOURCES; s++) {
      for (const chunk of historySource(view, allDrivers, s, stringKey)) {
        historyRows += chunk.length;
        rss.sample();
      }
    }
  }
  return {
    ...clock.read(),
    startRssBytes: rss.start,
    entityRows: entities.keys.length,
    historyRows,
    peakRssBytes: rss.peak,
  };
}

/** Per view, per feature: the value of every entity row, in row order (null: no winner, or past the TTL). */
type Joined = Map<string, FeatureValue[][]>;

/** The export's join of one frame (one pass: the 3 views share the driver key), on this thread. */
async function columnarJoin(
  drivers: readonly number[],
  keyOf: KeyOf,
  asServed: boolean,
  onChunk: () => void = () => undefined,
): Promise<{ joined: Joined; entityRows: number; historyRows: number }> {
  const entities = entityColumns(drivers, keyOf);
  const order = sortEntities(entities.keys, entities.timestamps);
  const joined: Joined = new Map();
  let historyRows = 0;
  for (const view of VIEWS) {
    const numeric = view.features.map(() => true);
    const winners = new ViewWinners(order.keys.length, view.features, view.ttlSeconds, numeric);
    for (let s = 0; s < SOURCES; s++) {
      const chunks = function* () {
        for (const chunk of historySource(view, drivers, s, keyOf)) {
          yield chunk;
          onChunk();
        }
      };
      const read = await joinHistorySource(order, chunks(), winners, { source: `${view.name} source ${s}`, asServed });
      historyRows += read.historyRows;
    }
    const columns = winners.columnsInRowOrder(order, entities.keys.length);
    joined.set(
      view.name,
      columns.map((column) =>
        'numbers' in column
          ? Array.from(column.numbers, (value, i) => (column.present[i] === 1 ? value : null))
          : column.values,
      ),
    );
  }
  return { joined, entityRows: entities.keys.length, historyRows };
}

async function runColumnar(keyOf: KeyOf, asServed: boolean): Promise<CaseResult> {
  const rss = new RssPeak();
  const clock = new Clock();
  const { entityRows, historyRows } = await columnarJoin(allDrivers, keyOf, asServed, () => rss.sample());
  return { ...clock.read(), startRssBytes: rss.start, entityRows, historyRows, peakRssBytes: rss.peak };
}

/** The obvious join: load the history, group it by key, scan the key's rows for every entity row. */
async function runNaive(): Promise<CaseResult> {
  const rss = new RssPeak();
  const heapBefore = process.memoryUsage().heapUsed;
  const clock = new Clock();
  const grouped = new Map<string, Map<string, PitCandidate<FeatureValue[]>[]>>();
  let historyRows = 0;
  for (const view of VIEWS) {
    const byKey = new Map<string, PitCandidate<FeatureValue[]>[]>();
    for (let s = 0; s < SOURCES; s++) {
      for (const chunk of historySource(view, sampleDrivers, s, stringKey)) {
        for (let j = 0; j < chunk.length; j++) {
          const entityKey = chunk.keys[j] as string;
          const created = chunk.createdTimestamps[j]!;
          const row: PitCandidate<FeatureValue[]> = {
            entityKey,
            eventTimestamp: chunk.eventTimestamps[j]!,
            createdTimestamp: created === Number.NEGATIVE_INFINITY ? null : created,
            position: { partition: chunk.partitions[j]!, offset: chunk.offsets[j]! },
            appendTime: chunk.appendedAt![j]!,
            values: chunk.features.map((column) => column[j] as FeatureValue),
          };
          const rows = byKey.get(entityKey);
          if (rows) rows.push(row);
          else byKey.set(entityKey, [row]);
        }
        historyRows += chunk.length;
      }
    }
    grouped.set(view.name, byKey);
  }
  rss.sample();
  const historyHeap = process.memoryUsage().heapUsed - heapBefore;
  const entities = entityColumns(sampleDrivers, stringKey);
  const joined: Joined = new Map(VIEWS.map((view) => [view.name, view.features.map(() => [])]));
  for (let i = 0; i < entities.keys.length; i++) {
    const entity = { entityKey: entities.keys[i] as string, timestamp: entities.timestamps[i]! };
    for (const view of VIEWS) {
      const candidates = grouped.get(view.name)!.get(entity.entityKey) ?? [];
      const winner = pointInTimeLookup(candidates, entity, { ttlSeconds: view.ttlSeconds });
      joined.get(view.name)!.forEach((column, f) => column.push(winner?.values[f] ?? null));
    }
    if (i % 4096 === 0) rss.sample();
  }
  const { seconds, cpuSeconds } = clock.read();

  // The columnar join must give the same answer on the sample.
  const columnar = (await columnarJoin(sampleDrivers, stringKey, false)).joined;
  let mismatches = 0;
  for (let i = 0; i < entities.keys.length; i++) {
    for (const view of VIEWS) {
      const want = joined.get(view.name)!.map((column) => column[i]);
      const got = columnar.get(view.name)!.map((column) => column[i]);
      if (JSON.stringify(got) !== JSON.stringify(want)) mismatches += 1;
    }
  }
  const factor = DRIVERS / sampleDrivers.length;
  return {
    seconds: seconds * factor,
    cpuSeconds: cpuSeconds * factor,
    startRssBytes: rss.start,
    entityRows: Math.round(entities.keys.length * factor),
    historyRows: Math.round(historyRows * factor),
    peakRssBytes: rss.peak,
    note:
      `1% sample ×${factor.toFixed(0)}: ${seconds.toFixed(2)} s measured; its history would take ` +
      `~${((historyHeap * factor) / 2 ** 30).toFixed(1)} GB of heap in full; mismatches vs columnar: ${mismatches}`,
  };
}

const CASES: Record<string, () => Promise<CaseResult>> = {
  generate: runGenerate,
  columnar: () => runColumnar(stringKey, false),
  'columnar as-served': () => runColumnar(stringKey, true),
  'columnar, integer keys': () => runColumnar(integerKey, false),
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
    `point-in-time join (columnar, production's): ${ENTITY_ROWS.toLocaleString()} entity rows, ` +
      `${DRIVERS.toLocaleString()} drivers, 3 views, ${(DRIVERS * 100).toLocaleString()} history rows ` +
      `(BENCH_SCALE=${SCALE})`,
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
