/**
 * Segment catalog fold bench: how fast `<project>.segments` events become the catalog of live segments,
 * beside the previous fold (copy and scan per event) and beside merely reading and decoding the topic.
 *
 *   node_modules/.bin/node -r @swc-node/register bench/offline-catalog/catalog.bench.ts
 *   BENCH_EVENTS=100000 (default)   BENCH_PREVIOUS_EVENTS=5000,10000,20000 (prefixes for the previous fold)
 *   BENCH_LOGS=file|kafka|file,kafka (default; kafka at FEATURELOG_KAFKA_BROKERS, Apicurio at
 *   FEATURELOG_SCHEMA_REGISTRY_URL, both from the FEATURELOG_* stack variables)
 *
 * The events are what compactors write: 4 views × 12 partitions; each announcement covers the next
 * offsets of 1–3 partitions of its view; every 8 small segments of a view are merged into one; every
 * 997th announcement redoes an earlier flush under a new id (a crash between announcing and committing),
 * which the fold refuses as an overlap. In one run:
 * - in memory: the fold (evolveSegmentCatalogInPlace) over all events, and over each prefix beside the
 *   previous fold (bench/offline-catalog/previous-segment-catalog.ts) on the same prefix; both must
 *   reach the same catalog;
 * - per log, events appended once as the compactor encodes them (Avro, Confluent wire format), then:
 *   raw read (baseline), decode only, SegmentLog.catchUp (the compactor's resume point) and
 *   readSegmentCatalog (what exports and backfills fold).
 */
import { loadavg } from 'node:os';
import { rm } from 'node:fs/promises';
import Table3 from 'cli-table3';
import { loadProjectConfig } from '@featurelog/config';
import {
  avroSegmentEventDecoder,
  evolveSegmentCatalogInPlace,
  initialSegmentCatalog,
  readSegmentCatalog,
  SegmentEventSerde,
  SegmentLog,
  type OffsetRange,
  type SegmentCatalog,
  type SegmentEvent,
  type SegmentWritten,
} from '@featurelog/offline-store';
import { ProjectRuntime } from '@featurelog/runtime';
import { previousEvolveSegmentCatalog } from './previous-segment-catalog';
import { benchFeatureRepo } from '../bench-repo';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 100_000);
const PREVIOUS = (process.env.BENCH_PREVIOUS_EVENTS ?? '5000,10000,20000')
  .split(',')
  .map(Number)
  .filter((n) => n > 0 && n <= EVENTS);
const LOGS = (process.env.BENCH_LOGS ?? 'file,kafka').split(',');
const VIEWS = 4;
const PARTITIONS = 12;
const MERGE_EVERY = 8;
const APPEND_BATCH = 1_000;
const READ_BATCH = 5_000;

function segmentEvents(count: number): SegmentEvent[] {
  const events: SegmentEvent[] = [];
  const cursors = Array.from({ length: VIEWS }, () => new Array<number>(PARTITIONS).fill(0));
  const small: SegmentWritten[][] = Array.from({ length: VIEWS }, () => []);
  const flushes: SegmentWritten[] = [];
  let seed = 12345;
  const random = (below: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % below;
  };
  const segment = (id: string, view: number, ranges: OffsetRange[], at: number): SegmentWritten => ({
    type: 'SegmentWritten',
    segmentId: id,
    view: `view_${view}`,
    path: `bench/view_${view}/date=2025-01-01/${id}.parquet`,
    date: '2025-01-01',
    ranges,
    minEventTime: 1_735_689_600_000_000 + at,
    maxEventTime: 1_735_689_600_000_000 + at + 1_000,
    rowCount: 5_000,
    checksum: 'ab'.repeat(32),
    bytes: 200_000,
    writtenAt: 1_735_689_600_000_000 + at,
  });
  while (events.length < count) {
    const i = events.length;
    const view = random(VIEWS);
    if (small[view]!.length === MERGE_EVERY) {
      const replaced = small[view]!.splice(0);
      const ranges = replaced.flatMap((s) => s.ranges);
      events.push({
        type: 'SegmentsMerged',
        mergedInto: segment(`merged-${i}`, view, ranges, i),
        replaced: replaced.map((s) => s.segmentId),
      });
      continue;
    }
    if (i % 997 === 996 && flushes.length > 0) {
      const redone = flushes[random(flushes.length)]!;
      events.push({ ...redone, segmentId: `redo-${i}` });
      continue;
    }
    const first = random(PARTITIONS);
    const ranges: OffsetRange[] = [];
    for (let k = 0, n = 1 + random(3); k < n; k++) {
      const partition = (first + k) % PARTITIONS;
      const fromOffset = cursors[view]![partition]!;
      const untilOffset = fromOffset + 1_000 + random(4_000);
      cursors[view]![partition] = untilOffset;
      ranges.push({ partition, fromOffset, untilOffset });
    }
    const written = segment(`segment-${i}`, view, ranges, i);
    small[view]!.push(written);
    flushes.push(written);
    events.push(written);
  }
  return events;
}

interface Row {
  where: string;
  step: string;
  events: number;
  seconds: number;
  /** The step whose time this one is compared with. */
  baseline?: string;
}

async function timed(work: () => Promise<void> | void): Promise<number> {
  const start = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function summary(catalog: SegmentCatalog): string {
  const live = [...catalog.live].map(([view, segments]) => `${view}:${[...segments.keys()].join(',')}`);
  const ignored = catalog.ignored.map((i) => `${i.index}:${i.reason}:${i.detail}`);
  return JSON.stringify([catalog.eventCount, catalog.seen.size, live, ignored]);
}

async function benchMemory(events: SegmentEvent[]): Promise<Row[]> {
  const rows: Row[] = [];
  let catalog = initialSegmentCatalog();
  // The first pass also pays for compiling the fold and growing the heap; both are shown. The second is
  // also timed by fifths: a fold that is O(log n) per event keeps the same rate in the last fifth.
  const fifths: number[] = [];
  for (const pass of ['cold, first pass', 'warm, second pass']) {
    rows.push({
      where: 'memory',
      step: `fold (evolveSegmentCatalogInPlace), ${pass}`,
      events: events.length,
      seconds: await timed(() => {
        catalog = initialSegmentCatalog();
        fifths.length = 0;
        let start = process.hrtime.bigint();
        for (let i = 0; i < events.length; i++) {
          evolveSegmentCatalogInPlace(catalog, events[i]!);
          if ((i + 1) % Math.ceil(events.length / 5) === 0 || i + 1 === events.length) {
            const now = process.hrtime.bigint();
            fifths.push(Number(now - start) / 1e9);
            start = now;
          }
        }
      }),
    });
  }
  const fifth = Math.ceil(events.length / 5);
  fifths.forEach((seconds, k) => {
    const until = Math.min(events.length, (k + 1) * fifth);
    rows.push({
      where: 'memory',
      step: `  warm pass, events ${(k * fifth + 1).toLocaleString('en-US')}–${until.toLocaleString('en-US')}`,
      events: until - k * fifth,
      seconds,
    });
  });
  const live = [...catalog.live.values()].reduce((sum, segments) => sum + segments.size, 0);
  process.stdout.write(
    `  ${events.length} events: ${live} live segments, ${catalog.seen.size - live} replaced by merges, ` +
      `${catalog.ignored.length} refused\n`,
  );
  for (const n of PREVIOUS) {
    const prefix = events.slice(0, n);
    const current = initialSegmentCatalog();
    let previous: SegmentCatalog = initialSegmentCatalog();
    const step = `fold, first ${n.toLocaleString('en-US')}`;
    rows.push({
      where: 'memory',
      step: `${step} (previous fold, baseline)`,
      events: n,
      seconds: await timed(() => {
        for (const event of prefix) previous = previousEvolveSegmentCatalog(previous, event);
      }),
    });
    rows.push({
      where: 'memory',
      step: `${step} (evolveSegmentCatalogInPlace)`,
      events: n,
      seconds: await timed(() => {
        for (const event of prefix) evolveSegmentCatalogInPlace(current, event);
      }),
      baseline: `${step} (previous fold, baseline)`,
    });
    if (summary(current) !== summary(previous)) throw new Error(`the folds disagree on the first ${n} events`);
  }
  return rows;
}

async function benchLog(kind: 'file' | 'kafka', events: SegmentEvent[]): Promise<Row[]> {
  const { dir, project } = await benchFeatureRepo(kind, 'catalog');
  const rows: Row[] = [];
  const row = (step: string, seconds: number) =>
    rows.push({ where: kind, step, events: events.length, seconds, baseline: 'raw read (baseline)' });
  const runtime = await ProjectRuntime.open(await loadProjectConfig(dir));
  try {
    const { log, schemas } = runtime;
    const topic = runtime.topics.project.find((spec) => spec.name === `${project}.segments`)!;
    await log.ensureTopic(topic);
    const serde = new SegmentEventSerde(schemas, project);
    row(
      'append (encode + write)',
      await timed(async () => {
        for (let i = 0; i < events.length; i += APPEND_BATCH) {
          const batch = events.slice(i, i + APPEND_BATCH);
          const values = await Promise.all(batch.map((event) => serde.encode(event)));
          await log.append(
            topic.name,
            values.map((value, k) => {
              const event = batch[k]!;
              const view = event.type === 'SegmentWritten' ? event.view : event.mergedInto.view;
              return { key: Buffer.from(view), value, partition: 0 };
            }),
          );
        }
      }),
    );
    const end = (await log.endOffsets(topic.name)).get(0) ?? 0;
    if (end !== events.length) throw new Error(`expected ${events.length} records, the log holds ${end}`);
    let read = 0;
    row(
      'raw read (baseline)',
      await timed(async () => {
        for await (const records of log.read(topic.name, 0, 0, { untilOffset: end, maxBatch: READ_BATCH })) {
          read += records.length;
        }
      }),
    );
    if (read !== end) throw new Error(`raw read saw ${read} of ${end} records`);
    row(
      'read + decode (no fold)',
      await timed(async () => {
        for await (const records of log.read(topic.name, 0, 0, { untilOffset: end, maxBatch: READ_BATCH })) {
          for (const record of records) await serde.decode(record.value!);
        }
      }),
    );
    let caughtUp: SegmentCatalog | undefined;
    row(
      'SegmentLog.catchUp (compactor)',
      await timed(async () => {
        const segmentLog = new SegmentLog({ log, serde, project, maxBatch: READ_BATCH });
        await segmentLog.catchUp();
        caughtUp = segmentLog.catalog;
      }),
    );
    let read2: SegmentCatalog | undefined;
    row(
      'readSegmentCatalog (exports)',
      await timed(async () => {
        read2 = await readSegmentCatalog(log, project, avroSegmentEventDecoder(schemas, project));
      }),
    );
    if (caughtUp!.eventCount !== events.length || summary(caughtUp!) !== summary(read2!)) {
      throw new Error('SegmentLog and readSegmentCatalog folded different catalogs');
    }
    return rows;
  } finally {
    await runtime.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const events = segmentEvents(EVENTS);
  process.stdout.write(
    `offline-catalog bench: ${EVENTS} segment events (${VIEWS} views × ${PARTITIONS} partitions, a merge per ` +
      `${MERGE_EVERY} segments), logs ${LOGS.join(', ')}; load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}\n`,
  );
  const rows = await benchMemory(events);
  for (const kind of LOGS) {
    if (kind !== 'file' && kind !== 'kafka') throw new Error(`BENCH_LOGS: unknown log '${kind}'`);
    rows.push(...(await benchLog(kind, events)));
  }
  const table = new Table3({
    head: ['where', 'step', 'events', 'seconds', 'events/s', 'speed × baseline'],
    style: { head: [], border: [] },
    colAligns: ['left', 'left', 'right', 'right', 'right', 'right'],
  });
  for (const row of rows) {
    const baseline = rows.find((r) => r.where === row.where && r.step === row.baseline);
    table.push([
      row.where,
      row.step,
      row.events.toLocaleString('en-US'),
      row.seconds.toFixed(3),
      Math.round(row.events / row.seconds).toLocaleString('en-US'),
      baseline === undefined || baseline === row ? '' : (baseline.seconds / row.seconds).toFixed(2),
    ]);
  }
  process.stdout.write(
    `${table.toString()}\nload average after: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
