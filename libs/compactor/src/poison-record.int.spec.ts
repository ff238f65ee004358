import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { parquetReadObjects } from 'hyparquet';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { pointInTimeLookup, topicNames, type TaggedDefinition } from '@featurelog/domain';
import type { ProjectConfig } from '@featurelog/config';
import { ProjectRuntime } from '@featurelog/runtime';
import { DLQ_HEADERS, type LogRecord } from '@featurelog/log';
import { HyparquetSegmentCodec, liveSegments, segmentCoverage } from '@featurelog/offline-store';
import { uniqueName, waitFor } from '@featurelog/testing';
import { backfillView, exportTrainingSet, type HistorySources } from '@featurelog/jobs';
import { stackEnv } from '../../../tools/stack/stack-env';
import { Compactor } from './compactor';
import { produceTrips, tripDefinitions, tripRows, type TripRow } from './compactor.test-kit';

async function readParquet(path: string): Promise<Record<string, unknown>[]> {
  const bytes = readFileSync(path);
  return parquetReadObjects({ file: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) });
}

/** The record of issue #12, as kafkajs sent it: schema id 99999 (00 00 01 86 9f), which no registry knows. */
const POISON = Buffer.from([0x00, 0x00, 0x01, 0x86, 0x9f, 0x02, 0x04]);
const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * The point-in-time winner at `at` (TTL 0) among the produced rows, by the domain's oracle pointInTimeLookup.
 * Rows of one rider share a partition, so produce order is log order: a row's index stands for its offset.
 */
function expectedAt(rows: readonly TripRow[], rider: number, at: number): TripRow | undefined {
  const candidates = rows.map((row, index) => ({
    entityKey: String(row.rider_id),
    eventTimestamp: row.event_timestamp,
    createdTimestamp: row.created_timestamp,
    position: { partition: 0, offset: index },
    values: row,
  }));
  return pointInTimeLookup(candidates, { entityKey: String(rider), timestamp: at }, { ttlSeconds: 0 })?.values;
}

describe('a poison record on a view topic over Kafka and Apicurio (issue #12)', () => {
  const env = stackEnv();
  const project = uniqueName('poison').replace(/[^a-z0-9_]/g, '_');
  const view = 'trips';
  const definitions: TaggedDefinition[] = tripDefinitions(view, 2, { online: true });
  const topic = topicNames.features(project, { name: view, version: 1 });
  const rows = [...tripRows(60, 21, 2, 12), ...tripRows(60, 22, 2, 12)];
  let dir: string;
  let runtime: ProjectRuntime;
  let registry: ReturnType<ProjectRuntime['registry']>;
  let sources: HistorySources;
  const compactors: Compactor[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'featurelog-poison-int-'));
    const config: ProjectConfig = {
      project,
      repoDir: dir,
      log: { type: 'kafka', brokers: env.kafkaBrokers, clientId: project },
      schemaRegistry: { type: 'confluent', url: env.schemaRegistryUrl },
      onlineStore: { type: 'redis', url: env.redisUrl },
      offlineStore: { type: 'local', path: join(dir, 'offline') },
    };
    runtime = await ProjectRuntime.open(config);
    registry = runtime.registry();
    await registry.applier.apply(definitions);
    await registry.follower.start(`${project}.test-follower`);
    sources = {
      log: runtime.log,
      schemas: runtime.schemas,
      codec: new HyparquetSegmentCodec(),
      offlineRoot: config.offlineStore.path,
      project,
    };
    await produceTrips(runtime.log, runtime.schemas, project, definitions, rows.slice(0, 60));
    // The poison goes in with a plain kafkajs producer, the exact bytes of the issue.
    const kafka = new Kafka({ clientId: `${project}-backend`, brokers: env.kafkaBrokers, logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: [{ key: 'rider-poison', value: POISON }] });
    await producer.disconnect();
    await produceTrips(runtime.log, runtime.schemas, project, definitions, rows.slice(60));
  });

  after(async () => {
    for (const compactor of compactors) await compactor.stop({ flush: false }).catch(() => undefined);
    await registry?.follower.stop().catch(() => undefined);
    await runtime?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const startCompactor = async () => {
    const compactor = await Compactor.start({
      project,
      log: runtime.log,
      schemas: runtime.schemas,
      follower: registry.follower,
      offlineRoot: sources.offlineRoot,
      logger: quiet,
      tickMs: 50,
      maxAgeMs: 100,
      initialRetryMs: 20,
    });
    compactors.push(compactor);
    return compactor;
  };

  const deadLetters = async (): Promise<LogRecord[]> => {
    const dlq = topicNames.dlq(project);
    const out: LogRecord[] = [];
    for (const [partition, end] of await runtime.log.endOffsets(dlq)) {
      if (end === 0) continue;
      for await (const batch of runtime.log.read(dlq, partition, 0, { untilOffset: end })) out.push(...batch);
    }
    return out.filter((letter) => letter.headers[DLQ_HEADERS.sourceTopic]?.toString() === topic);
  };

  const riders = [...new Set(rows.map((row) => row.rider_id))].sort((a, b) => a - b);
  const at = rows.reduce((max, row) => Math.max(max, row.event_timestamp), 0) + 1;
  const exportTrips = async (name: string) => {
    const entities = join(dir, `${name}.csv`);
    writeFileSync(
      entities,
      `rider_id,event_timestamp\n${riders.map((rider) => `${rider},${new Date(at / 1000).toISOString()}`).join('\n')}\n`,
    );
    const output = join(dir, `${name}.parquet`);
    const result = await exportTrainingSet(sources, definitions, {
      entities,
      features: [`${view}:fare`, `${view}:city`],
      output,
    });
    const exported = (await readParquet(output)).map((row) => [Number(row.rider_id), row.fare, row.city]);
    const expected = riders.map((rider) => {
      const winner = expectedAt(rows, rider, at);
      return [rider, winner?.fare ?? null, winner?.city ?? null];
    });
    assert.deepEqual(exported, expected, `${name}: the export's rows are the point-in-time winners`);
    return result;
  };

  it('export and backfill replaying the log tail skip the record, count it, and do not dead-letter it', async () => {
    const exported = await exportTrips('tail');
    assert.equal(exported.undecodableTailRecords, 1);
    assert.equal(exported.tailRows, 120);
    const store = await runtime.onlineStore();
    const backfilled = await backfillView(sources, definitions, store, { view, source: 'log' });
    assert.equal(backfilled.rowsRead, 120);
    assert.equal(backfilled.undecodableTailRecords, 1);
    assert.deepEqual(await deadLetters(), [], 'a replay is not a consumer: it dead-letters nothing');
  });

  it('the compactor stays healthy, writes the good rows, and dead-letters the record once across restarts', async () => {
    const covered = async (compactor: Compactor) => {
      await waitFor(
        async () => {
          await compactor.segmentLog.catchUp();
          const coverage = new Map(
            segmentCoverage(compactor.segmentLog.catalog, view).partitions.map((p) => [p.partition, p.coveredUntil]),
          );
          for (const [partition, end] of await runtime.log.endOffsets(topic)) {
            if ((coverage.get(partition) ?? 0) < end) return false;
          }
          return true;
        },
        { timeoutMs: 30_000, description: 'segments to cover the whole topic, the poison offset included' },
      );
    };
    const first = await startCompactor();
    await covered(first);
    assert.deepEqual(
      first.status().map((status) => status.state),
      ['running'],
    );
    assert.equal(first.counters.restarts, 0, 'no restart on the poison record');
    const segmentRows = liveSegments(first.segmentLog.catalog, view).reduce(
      (sum, segment) => sum + segment.rowCount,
      0,
    );
    assert.equal(segmentRows, 120, 'every good row is in a segment');
    assert.equal(first.counters.unreadableRecords, 1);
    await first.stop({ flush: false });

    const [letter, ...more] = await deadLetters();
    assert.equal(more.length, 0);
    assert.deepEqual(letter?.value, POISON);
    assert.equal(letter?.key?.toString(), 'rider-poison');
    assert.equal(letter?.headers[DLQ_HEADERS.errorCode]?.toString(), 'SCHEMA_NOT_FOUND');
    assert.equal(letter?.headers[DLQ_HEADERS.consumer]?.toString(), `${project}.compactor`);
    assert.ok(letter?.headers[DLQ_HEADERS.sourcePartition] !== undefined);
    assert.ok(letter?.headers[DLQ_HEADERS.sourceOffset] !== undefined);

    // A restarted compactor resumes from the segments, past the poison: nothing is dead-lettered again.
    const second = await startCompactor();
    await covered(second);
    await second.stop();
    assert.equal((await deadLetters()).length, 1);

    // The view's history is now in segments; the export reads the same rows from them.
    const exported = await exportTrips('segments');
    assert.equal(exported.undecodableTailRecords, 0);
    assert.equal(exported.segmentRows, 120);
    const store = await runtime.onlineStore();
    const backfilled = await backfillView(sources, definitions, store, { view, source: 'segments' });
    assert.equal(backfilled.rowsRead, 120);
  });
});
