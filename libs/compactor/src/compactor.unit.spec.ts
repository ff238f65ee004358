import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FeaturelogError, PUSH_TO_HEADER, topicNames, type TaggedDefinition } from '@featurelog/domain';
import { seededRandom, uniqueName, waitFor } from '@featurelog/testing';
import {
  customer,
  customersSource,
  customerView,
  debeziumJsonRecord,
  randomCustomerRow,
} from '@featurelog/view-rows/testing';
import type { ProjectConfig } from '@featurelog/config';
import { ProjectRuntime } from '@featurelog/runtime';
import {
  HyparquetSegmentCodec,
  liveSegments,
  offlineViews,
  PartitionBuffer,
  readSegment,
  segmentCoverage,
  SegmentEventSerde,
  SegmentLog,
  SegmentRowReader,
  writeDatedSegments,
  type SegmentRow,
  type SegmentWritten,
} from '@featurelog/offline-store';
import { Compactor, type CompactorOptions } from '@featurelog/compactor';
import { LocalSchemaRegistry, RowDecoder } from '@featurelog/avro';
import { DLQ_HEADERS, type LogRecord } from '@featurelog/log';
import {
  assertExactlyOnce,
  logTrips,
  produceTrips,
  segmentFilesOnDisk,
  tripDefinitions,
  tripRows,
} from './compactor.test-kit';

const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };

interface Harness {
  runtime: ProjectRuntime;
  registry: ReturnType<ProjectRuntime['registry']>;
  project: string;
  root: string;
  definitions: TaggedDefinition[];
  view: string;
  start(options?: Partial<CompactorOptions>): Promise<Compactor>;
  segmentLog(): Promise<SegmentLog>;
  produce(count: number, seed: number): Promise<void>;
  check(): Promise<{ segments: number; rows: number }>;
  /** Stops every compactor the test started (a failed test leaves them running), then the ports. */
  close(): Promise<void>;
}

async function harness(dir: string, partitions = 3): Promise<Harness> {
  const project = uniqueName('cmp').replace(/-/g, '_');
  const config: ProjectConfig = {
    project,
    repoDir: dir,
    log: { type: 'embedded', path: join(dir, 'log') },
    schemaRegistry: { type: 'embedded', path: join(dir, 'schemas') },
    onlineStore: { type: 'embedded', path: join(dir, 'online') },
    offlineStore: { type: 'local', path: join(dir, 'offline') },
  };
  const runtime = await ProjectRuntime.open(config);
  const registry = runtime.registry();
  const { applier, follower } = registry;
  const view = 'trips';
  const definitions = tripDefinitions(view, partitions);
  await applier.apply(definitions);
  await follower.start(`${project}.test-follower`);
  const root = config.offlineStore.path;
  const started: Compactor[] = [];
  const openSegmentLog = async () => {
    const segmentLog = new SegmentLog({
      log: runtime.log,
      serde: new SegmentEventSerde(runtime.schemas, project),
      project,
    });
    await segmentLog.catchUp();
    return segmentLog;
  };
  return {
    runtime,
    registry,
    project,
    root,
    definitions,
    view,
    start: async (options = {}) => {
      const compactor = await Compactor.start({
        project,
        log: runtime.log,
        schemas: runtime.schemas,
        follower,
        offlineRoot: root,
        logger: quiet,
        tickMs: 20,
        maxAgeMs: 60_000,
        mergeIntervalMs: 3_600_000,
        gcIntervalMs: 3_600_000,
        orphanGraceMs: 0,
        replacedGraceMs: 0,
        initialRetryMs: 5,
        ...options,
      });
      started.push(compactor);
      return compactor;
    },
    async close() {
      for (const compactor of started) await compactor.stop({ flush: false });
      await follower.stop();
      await runtime.close();
    },
    segmentLog: openSegmentLog,
    produce: (count, seed) => produceTrips(runtime.log, runtime.schemas, project, definitions, tripRows(count, seed)),
    async check() {
      const segmentLog = await openSegmentLog();
      return assertExactlyOnce({
        root,
        catalog: segmentLog.catalog,
        view,
        log: await logTrips(runtime.log, runtime.schemas, project, definitions),
      });
    },
  };
}

/** Waits until the live segments of the view cover every partition up to its end. */
async function caughtUp(h: Harness, compactor: Compactor): Promise<void> {
  const topic = topicNames.features(h.project, { name: h.view, version: 1 });
  await waitFor(
    async () => {
      await compactor.flushAll().catch(() => undefined);
      await compactor.segmentLog.catchUp();
      const covered = new Map(
        segmentCoverage(compactor.segmentLog.catalog, h.view).partitions.map((p) => [p.partition, p.coveredUntil]),
      );
      for (const [partition, end] of await h.runtime.log.endOffsets(topic)) {
        if ((covered.get(partition) ?? 0) < end) return false;
      }
      return true;
    },
    { timeoutMs: 20_000, description: 'segments cover the log up to its end' },
  );
}

class InjectedCrash extends Error {}

describe('partition buffer', () => {
  const row = (offset: number, eventTimestamp: number) => ({
    joinKeys: { id: 1 },
    eventTimestamp,
    createdTimestamp: null,
    partition: 2,
    offset,
    appendTime: 0,
    features: {},
  });
  const day = (d: number) => Date.UTC(2025, 0, d) * 1000;

  it('splits offsets by date into ranges, gives row-less offsets to the run before them, and skips redelivery', () => {
    const buffer = new PartitionBuffer(2, 10);
    buffer.add(10, row(10, day(1)), '2025-01-09');
    buffer.add(11, row(11, day(2)), '2025-01-09');
    buffer.add(12, null, '2025-01-09');
    buffer.add(11, row(11, day(2)), '2025-01-09');
    buffer.add(15, row(15, day(1) + 5), '2025-01-09');
    const inputs = buffer.drain();
    assert.deepEqual(
      inputs.map(({ date, ranges, rows }) => ({ date, ranges, offsets: rows.map((r) => r.offset) })),
      [
        {
          date: '2025-01-01',
          ranges: [
            { partition: 2, fromOffset: 10, untilOffset: 11 },
            { partition: 2, fromOffset: 13, untilOffset: 16 },
          ],
          offsets: [10, 15],
        },
        { date: '2025-01-02', ranges: [{ partition: 2, fromOffset: 11, untilOffset: 13 }], offsets: [11] },
      ],
    );
    assert.equal(buffer.cursor, 16);
    assert.ok(buffer.isEmpty);
  });

  it('leaves out offsets already in live segments, with their rows', () => {
    const buffer = new PartitionBuffer(0, 0, [
      { partition: 0, fromOffset: 2, untilOffset: 4 },
      { partition: 1, fromOffset: 0, untilOffset: 99 },
    ]);
    for (let offset = 0; offset < 6; offset++)
      buffer.add(offset, { ...row(offset, day(3)), partition: 0 }, '2025-01-03');
    const [input] = buffer.drain();
    assert.deepEqual(input!.ranges, [
      { partition: 0, fromOffset: 0, untilOffset: 2 },
      { partition: 0, fromOffset: 4, untilOffset: 6 },
    ]);
    assert.deepEqual(
      input!.rows.map((r) => r.offset),
      [0, 1, 4, 5],
    );
  });
});

describe('compactor on the embedded log', () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'featurelog-compactor-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes one sorted segment per date and partition, and a restart resumes from the segment log alone', async () => {
    const h = await harness(join(dir, 'resume'));
    try {
      await h.produce(900, 1);
      const first = await h.start();
      await caughtUp(h, first);
      await first.stop();
      const afterFirst = await h.segmentLog();
      const segments = liveSegments(afterFirst.catalog, h.view);
      assert.deepEqual(new Set(segments.map((s) => s.date)), new Set(['2025-03-01', '2025-03-02', '2025-03-03']));
      assert.ok(segments.every((s) => s.ranges.every((r) => r.partition === s.ranges[0]!.partition)));

      await h.produce(700, 2);
      const second = await h.start();
      await caughtUp(h, second);
      await second.stop();
      const result = await h.check();
      assert.equal(result.rows, 1600);
      assert.equal(second.counters.rowsWritten, 700, 'the restart wrote only the new rows');
    } finally {
      await h.close();
    }
  });

  it('a crash between writing and announcing leaves no lost and no doubled row, and no stray file', async () => {
    const h = await harness(join(dir, 'crash'));
    try {
      await h.produce(1200, 3);
      let crashes = 0;
      const written: SegmentWritten[] = [];
      const compactor = await h.start({
        maxRows: 150,
        hooks: {
          segmentWritten: (segment) => void written.push(segment),
          beforeAnnounce: () => {
            if (crashes < 4 && Math.random() < 0.5) {
              crashes++;
              throw new InjectedCrash('crash before announce');
            }
          },
        },
      });
      await caughtUp(h, compactor);
      await compactor.stop();
      assert.ok(crashes > 0, 'at least one crash was injected');
      assert.ok(compactor.counters.restarts > 0, 'a crash restarts the view from the segment log');
      await h.check();
      // Every file written but never announced was rewritten in place or deleted on restart.
      const segmentLog = await h.segmentLog();
      const live = liveSegments(segmentLog.catalog, h.view)
        .map((s) => s.path)
        .sort();
      assert.deepEqual(segmentFilesOnDisk(h.root, h.project, h.view), live);
      assert.ok(written.length > live.length, 'some written files were never announced');
    } finally {
      await h.close();
    }
  });

  it('survives being abandoned at random moments many times (a kill -9 of the in-process compactor)', async () => {
    const h = await harness(join(dir, 'abandon'));
    try {
      for (let round = 0; round < 10; round++) {
        await h.produce(150 + round * 13, 100 + round);
        const compactor = await h.start({ maxRows: 40 + round * 7, maxAgeMs: 0 });
        const target = 1 + (round % 4);
        await waitFor(() => compactor.counters.segmentsWritten >= target || undefined, {
          description: `round ${round}: ${target} segment(s) written`,
        });
        await compactor.stop({ flush: false });
      }
      const last = await h.start({ maxRows: 100 });
      await caughtUp(h, last);
      await last.stop();
      const result = await h.check();
      assert.ok(result.segments > 10);
    } finally {
      await h.close();
    }
  });

  it('finishes a flush whose segments were only partly announced before a crash', async () => {
    const h = await harness(join(dir, 'partial'), 1);
    try {
      await h.produce(400, 4);
      // The state a crash leaves mid-announcement: one date's segment of a flush announced, the others not.
      const view = offlineViews(h.registry.follower.state, h.project).get(h.view)!;
      const reader = SegmentRowReader.open(view, h.runtime.schemas, h.project);
      const buffer = new PartitionBuffer(0, 0);
      const topic = topicNames.features(h.project, { name: h.view, version: 1 });
      for await (const records of h.runtime.log.read(topic, 0, 0, { untilOffset: 250 })) {
        const rows = await reader.read(new RowDecoder(h.runtime.schemas), records, []);
        records.forEach((record, i) => buffer.add(record.offset, rows[i]!, '2025-03-01'));
      }
      const inputs = buffer.drain();
      assert.ok(inputs.length === 3);
      const segments = await writeDatedSegments(new HyparquetSegmentCodec(), {
        root: h.root,
        project: h.project,
        schema: reader.schema,
        inputs,
      });
      const segmentLog = await h.segmentLog();
      assert.deepEqual(await segmentLog.announce(h.view, [segments[1]!]), [true]);
      assert.ok(segmentCoverage(segmentLog.catalog, h.view).gaps.length > 0, 'the announced segment leaves gaps');

      const compactor = await h.start();
      await caughtUp(h, compactor);
      await compactor.stop();
      await h.check();
      assert.ok(
        !existsSync(join(h.root, segments[0]!.path)) ||
          liveSegments((await h.segmentLog()).catalog, h.view).some((s) => s.path === segments[0]!.path),
      );
    } finally {
      await h.close();
    }
  });

  it('merges small segments, deleting the replaced files only after the merge is announced, and survives crashes around it', async () => {
    const h = await harness(join(dir, 'merge'), 2);
    try {
      await h.produce(1000, 5);
      const small = await h.start({ maxRows: 60 });
      await caughtUp(h, small);
      await small.stop();
      const before = liveSegments((await h.segmentLog()).catalog, h.view);
      assert.ok(before.length > 20);

      let phase: 'written' | 'announced' | 'none' = 'written';
      let replacedStillThere = false;
      const merger = await h.start({
        merge: { minSegmentsPerMerge: 2 },
        hooks: {
          mergeWritten: () => {
            if (phase === 'written') {
              phase = 'announced';
              throw new InjectedCrash('crash before the merge is announced');
            }
          },
          mergeAnnounced: (merge) => {
            const stillThere = before
              .filter((s) => merge.replaced.includes(s.segmentId))
              .every((s) => existsSync(join(h.root, s.path)));
            replacedStillThere ||= stillThere;
            if (phase === 'announced') {
              phase = 'none';
              throw new InjectedCrash('crash before the replaced files are deleted');
            }
          },
        },
      });
      await waitFor(
        async () => {
          await merger.mergeNow().catch((error: unknown) => {
            if (!(error instanceof InjectedCrash) && !(error instanceof FeaturelogError)) throw error;
          });
          return phase === 'none' && merger.counters.merges >= 2 && merger.status()[0]?.state === 'running';
        },
        { description: 'merges done after two injected crashes' },
      );
      await merger.mergeNow();
      await merger.stop();
      assert.ok(replacedStillThere, 'replaced files exist until the merge event is durable');
      const segmentLog = await h.segmentLog();
      const after = liveSegments(segmentLog.catalog, h.view);
      assert.ok(after.length < before.length / 4, `${before.length} segments merged into ${after.length}`);
      assert.ok(segmentLog.catalog.ignored.length === 0, 'no announcement was refused');
      await h.check();

      const sweeper = await h.start();
      await waitFor(() => sweeper.status()[0]?.state === 'running' || undefined);
      await sweeper.stop();
      assert.deepEqual(segmentFilesOnDisk(h.root, h.project, h.view), after.map((s) => s.path).sort());
    } finally {
      await h.close();
    }
  });

  it('starts compacting a view applied while it runs, and ignores views that are not offline', async () => {
    const h = await harness(join(dir, 'follow'), 1);
    try {
      const compactor = await h.start();
      const { applier } = h.registry;
      const later = tripDefinitions('later_trips', 1);
      const onlineOnly = tripDefinitions('online_trips', 1, { online: true, offline: false });
      await applier.apply([...h.definitions, later[1]!, onlineOnly[1]!]);
      await waitFor(
        () => compactor.status().some((s) => s.view === 'later_trips' && s.state === 'running') || undefined,
        {
          description: 'later_trips is compacted',
        },
      );
      assert.deepEqual(
        compactor
          .status()
          .map((s) => s.view)
          .sort(),
        ['later_trips', 'trips'],
      );
      await produceTrips(h.runtime.log, h.runtime.schemas, h.project, later, tripRows(120, 6));
      await waitFor(
        async () => {
          await compactor.flushAll();
          return compactor.counters.rowsWritten === 120 || undefined;
        },
        { description: 'rows of the new view written' },
      );
      await applier.apply(h.definitions, { prune: true });
      await waitFor(() => compactor.status().length === 1 || undefined, { description: 'deleted view stopped' });
      await compactor.stop();
    } finally {
      await h.close();
    }
  });

  it('skips undecodable records but still covers their offsets', async () => {
    const h = await harness(join(dir, 'poison'), 1);
    try {
      await h.produce(50, 7);
      const topic = topicNames.features(h.project, { name: h.view, version: 1 });
      await h.runtime.log.append(topic, [
        { key: Buffer.from('x'), value: Buffer.from('not avro') },
        { key: Buffer.from('y'), value: null },
      ]);
      await h.produce(50, 8);
      const compactor = await h.start();
      await caughtUp(h, compactor);
      await compactor.stop();
      assert.equal(compactor.counters.unreadableRecords, 1);
      const result = await h.check();
      assert.equal(result.rows, 100);
    } finally {
      await h.close();
    }
  });
  it('dead-letters a record with an unknown schema id once, across restarts, and covers its offset', async () => {
    const h = await harness(join(dir, 'unknown-schema'), 1);
    try {
      await h.produce(50, 9);
      const topic = topicNames.features(h.project, { name: h.view, version: 1 });
      // The record of issue #12: schema id 99999, which no registry knows.
      const poison = Buffer.from([0x00, 0x00, 0x01, 0x86, 0x9f, 0x02, 0x04]);
      const [position] = await h.runtime.log.append(topic, [{ key: Buffer.from('poison'), value: poison }]);
      await h.produce(50, 10);
      const dlq = topicNames.dlq(h.project);
      const letters = async () => {
        const out: LogRecord[] = [];
        for (const [partition, end] of await h.runtime.log.endOffsets(dlq)) {
          if (end > 0)
            for await (const batch of h.runtime.log.read(dlq, partition, 0, { untilOffset: end })) out.push(...batch);
        }
        return out;
      };
      // A compactor that crashes before every announcement: it reads the poison again and again.
      let attempts = 0;
      const crashing = await h.start({
        hooks: {
          beforeAnnounce: () => {
            attempts++;
            throw new FeaturelogError('TEST_CRASH', 'crash before the announcement', { retriable: true });
          },
        },
      });
      await waitFor(
        async () => {
          await crashing.flushAll().catch(() => undefined);
          return attempts >= 3;
        },
        { description: 'three generations that read the poison' },
      );
      await crashing.stop({ flush: false });
      const compactor = await h.start();
      await caughtUp(h, compactor);
      assert.ok(
        compactor.status().every((view) => view.state === 'running'),
        'the compactor is healthy: no restart on the poison record',
      );
      await compactor.stop();
      assert.equal(compactor.counters.restarts, 0);
      assert.equal((await h.check()).rows, 100);
      const [letter, ...more] = await letters();
      assert.equal(more.length, 0, 'dead-lettered once, whatever the restarts');
      assert.deepEqual(letter?.value, poison);
      assert.equal(letter?.headers[DLQ_HEADERS.errorCode]?.toString(), 'SCHEMA_NOT_FOUND');
      assert.match(letter?.headers[DLQ_HEADERS.errorReason]?.toString() ?? '', /99999/);
      assert.equal(letter?.headers[DLQ_HEADERS.sourceTopic]?.toString(), topic);
      assert.equal(letter?.headers[DLQ_HEADERS.sourcePartition]?.toString(), '0');
      assert.equal(letter?.headers[DLQ_HEADERS.sourceOffset]?.toString(), String(position!.offset));
      assert.equal(letter?.headers[DLQ_HEADERS.consumer]?.toString(), `${h.project}.compactor`);
    } finally {
      await h.close();
    }
  });
});

describe('compactor and the push destination', () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'featurelog-compactor-push-to-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('leaves rows pushed with to=online out of the segments, and covers their offsets', async () => {
    const h = await harness(join(dir, 'push-to'), 1);
    try {
      const produce = (count: number, seed: number, to?: string) =>
        produceTrips(
          h.runtime.log,
          h.runtime.schemas,
          h.project,
          h.definitions,
          tripRows(count, seed),
          500,
          to === undefined ? undefined : { [PUSH_TO_HEADER]: to },
        );
      await produce(50, 1);
      await produce(30, 2, 'online');
      await produce(20, 3, 'offline');
      await produce(10, 4, 'online_and_offline');
      await produce(40, 5);
      const compactor = await h.start();
      await caughtUp(h, compactor);
      await compactor.stop();
      assert.equal(compactor.counters.unreadableRecords, 0);
      // check(): every offset covered, and the segment rows equal the log's rows not pushed to=online.
      const result = await h.check();
      assert.equal(result.rows, 50 + 20 + 10 + 40);
    } finally {
      await h.close();
    }
  });

  it("writes a Debezium source's changes with their source positions, a delete marked deleted, no row for its tombstone", async () => {
    const h = await harness(join(dir, 'debezium'), 1);
    try {
      const topic = `${h.project}.cdc.customers`;
      await h.runtime.log.ensureTopic({ name: topic, partitions: 1, config: {} });
      await h.registry.applier.apply(
        [
          ...h.definitions,
          { kind: 'entity', definition: customer },
          { kind: 'data_source', definition: { ...customersSource('debezium'), topic } },
          { kind: 'feature_view', definition: customerView },
        ],
        { prune: false },
      );
      const row = { ...randomCustomerRow(seededRandom(12), 4), updatedMs: 1_740_823_300_000 };
      await h.runtime.log.append(
        topic,
        [
          debeziumJsonRecord('c', row, 100),
          debeziumJsonRecord('u', { ...row, plan: 'pro', updatedMs: row.updatedMs + 1 }, 200),
          debeziumJsonRecord('d', { ...row, updatedMs: row.updatedMs + 2 }, 300),
          null,
        ].map((value) => ({ key: Buffer.from('{"id":4}'), value })),
      );
      const compactor = await h.start();
      await waitFor(
        async () => {
          await compactor.flushAll();
          return compactor.counters.rowsWritten === 3 || undefined;
        },
        { description: 'the three changes written' },
      );
      await compactor.stop();
      const segmentLog = await h.segmentLog();
      const rows: SegmentRow[] = [];
      for (const segment of liveSegments(segmentLog.catalog, customerView.name)) {
        for await (const batch of readSegment(new HyparquetSegmentCodec(), h.root, segment)) rows.push(...batch);
      }
      assert.deepEqual(
        rows.map((r) => [r.offset, r.sourcePosition, r.deleted ?? false, r.features.plan]),
        [
          [0, '00000000000000000100', false, row.plan],
          [1, '00000000000000000200', false, 'pro'],
          [2, '00000000000000000300', true, null],
        ],
      );
    } finally {
      await h.close();
    }
  });
});

describe('segment event serde', () => {
  it('round-trips both events through Avro registered under <project>.segments-value', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'featurelog-segment-serde-'));
    try {
      const registry = await LocalSchemaRegistry.open({ directory: join(dir, 'schemas') });
      const serde = new SegmentEventSerde(registry, 'demo');
      const written: SegmentWritten = {
        type: 'SegmentWritten',
        segmentId: 'p0-0-10-abc',
        view: 'trips',
        path: 'demo/trips/date=2025-01-01/p0-0-10-abc.parquet',
        date: '2025-01-01',
        ranges: [{ partition: 0, fromOffset: 2 ** 40, untilOffset: 2 ** 40 + 10 }],
        minEventTime: 1_735_689_600_000_000,
        maxEventTime: null,
        rowCount: 10,
        checksum: 'ab'.repeat(32),
        bytes: 1234,
        writtenAt: 1_735_689_600_000_001,
      };
      assert.deepEqual(await serde.decode(await serde.encode(written)), written);
      const merged = {
        type: 'SegmentsMerged' as const,
        mergedInto: { ...written, segmentId: 'merged-1' },
        replaced: ['a', 'b'],
      };
      assert.deepEqual(await serde.decode(await serde.encode(merged)), merged);
      assert.deepEqual(await registry.listSubjects(), ['demo.segments-value']);
      await registry.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
