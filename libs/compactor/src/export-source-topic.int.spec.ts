import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Type } from 'avsc';
import {
  encodeEntityKey,
  topicNames,
  type EntityDefinition,
  type FeatureViewDefinition,
  type TaggedDefinition,
} from '@featurelog/domain';
import { ConfluentSchemaRegistry } from '@featurelog/avro';
import { Compactor } from './compactor';
import { KafkaEventLog } from '@featurelog/log';
import { registryOf } from '@featurelog/serving/testing';
import {
  HyparquetSegmentCodec,
  liveSegments,
  offlineViewKey,
  segmentCoverage,
  SegmentEventSerde,
  SegmentLog,
} from '@featurelog/offline-store';
import { RedisOnlineStore } from '@featurelog/online-store';
import { seededRandom, stackEnv, uniqueName, waitFor } from '@featurelog/testing';
import { backfillView, exportTrainingSet, type HistorySources } from '@featurelog/jobs';
import { naiveIso, oracle, plain, readParquet, type LoggedRow } from '@featurelog/jobs/testing';

/**
 * A feature view over an EXISTING topic that a backend app produces with Confluent's own Avro serializer
 * (Python confluent-kafka, its own schema: other field names, timestamps in milliseconds). Part of the
 * topic is compacted into segments by the real Compactor, the rest is only in the log tail; the
 * export must equal a brute-force point-in-time oracle that decodes the topic with the app's schema and
 * maps the fields by hand (independently of sourceRowMapper).
 */

const PYTHON = resolve(__dirname, '../../../.venv/bin/python');
const CONFLUENT_APP = resolve(__dirname, '../../producer/test-fixtures/confluent_interop.py');

function pythonProblem(): string | undefined {
  if (!existsSync(PYTHON)) return `${PYTHON} is missing (bash tools/stack/install-system.sh)`;
  const check = spawnSync(PYTHON, ['-W', 'ignore', '-c', 'import confluent_kafka.schema_registry.avro, fastavro'], {
    encoding: 'utf8',
  });
  return check.status === 0 ? undefined : `Python lacks confluent-kafka/fastavro: ${check.stderr}`;
}

const SECOND = 1_000_000;
const GRID = 600 * SECOND;

/** The backend app's record: its own names, event time as timestamp-millis, created time as plain epoch ms. */
const APP_SCHEMA = {
  type: 'record',
  name: 'Ride',
  namespace: 'com.example.rides',
  fields: [
    { name: 'drv', type: ['null', 'long'], default: null },
    { name: 'ts', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'created_ms', type: ['null', 'long'], default: null },
    { name: 'speed_kmh', type: ['null', 'double'], default: null },
    { name: 'note', type: ['null', 'string'], default: null },
  ],
};

interface AppRecord {
  drv: number | null;
  /** Epoch µs (whole milliseconds): the Python app turns it into a datetime. */
  ts: number;
  created_ms: number | null;
  speed_kmh: number | null;
  note: string | null;
}

const DRIVER: EntityDefinition = { name: 'driver', joinKeys: [{ name: 'driver_id', type: 'int64' }] };

describe(
  'export and backfill of a view over an existing topic (Confluent-produced, Kafka + Apicurio)',
  {
    skip: pythonProblem(),
  },
  () => {
    const env = stackEnv();
    const project = uniqueName('srcexp').replace(/[^a-z0-9_]/g, '_');
    const topic = `${project}_rides`;
    // Version 2: its segments are filed under `ride_stats.v2`.
    const VIEW: FeatureViewDefinition = {
      name: 'ride_stats',
      version: 2,
      entities: ['driver'],
      features: [
        { name: 'speed', type: 'float64' },
        { name: 'note', type: 'string' },
      ],
      ttlSeconds: 3600,
      online: true,
      offline: true,
      source: 'rides',
    };
    const DEFINITIONS: TaggedDefinition[] = [
      { kind: 'entity', definition: DRIVER },
      {
        kind: 'data_source',
        definition: {
          name: 'rides',
          kind: 'kafka',
          topic,
          timestampField: 'ts',
          createdTimestampField: 'created_ms',
          fieldMapping: { drv: 'driver_id', speed_kmh: 'speed' },
        },
      },
      { kind: 'feature_view', definition: VIEW },
    ];
    let dir: string;
    let log: KafkaEventLog;
    let schemas: ConfluentSchemaRegistry;
    let store: RedisOnlineStore;
    let sources: HistorySources;
    let history: LoggedRow[];
    /** Records without a join key (poison: in no segment and no tail row, but counted). */
    const keyless: { partition: number; offset: number }[] = [];
    let compactedUntil: Map<number, number>;
    const rand = seededRandom(7);
    // Recent event times (whole milliseconds), so that as-served windows meet the append times.
    const base = (Date.now() - 36 * 600_000) * 1000;
    const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
    const DRIVERS = [1, 2, 3, 5, 8, 13, 21];

    const appRecord = (): AppRecord => {
      const ts = base + Math.floor(rand() * 36) * GRID; // on a grid: ties on event time
      return {
        drv: rand() < 0.03 ? null : pick(DRIVERS), // no join key: poison, left out by compactor and tail alike
        ts,
        created_ms: pick([null, ts / 1000, ts / 1000 + 60_000, ts / 1000 - 60_000]),
        speed_kmh: rand() < 0.2 ? null : Math.round(rand() * 12_000) / 100,
        note: rand() < 0.2 ? null : pick(['ok', 'late', 'é|%=', '']),
      };
    };

    /** Produces with Confluent's AvroSerializer (Python), as a backend app would. */
    const produceWithConfluent = (records: AppRecord[]) =>
      new Promise<void>((done, fail) => {
        const child = execFile(
          PYTHON,
          [
            CONFLUENT_APP,
            'produce',
            '--topic',
            topic,
            '--timestamp-fields',
            'ts',
            '--brokers',
            env.kafkaBrokers.join(','),
            '--registry',
            env.schemaRegistryUrl,
          ],
          { timeout: 90_000 },
          (error, stdout, stderr) => {
            if (error) return fail(new Error(`${error.message}\n${stderr}`));
            assert.deepEqual(JSON.parse(stdout), { produced: records.length });
            done();
          },
        );
        child.stdin!.end(
          records.map((value) => JSON.stringify({ key: `driver-${value.drv ?? 'none'}`, value })).join('\n') + '\n',
        );
      });

    /** The oracle's reading of the topic: the app's schema, the mapping applied by hand. */
    async function readTopicByHand(): Promise<LoggedRow[]> {
      const type = Type.forSchema(APP_SCHEMA as never);
      const out: LoggedRow[] = [];
      for (const [partition, end] of await log.endOffsets(topic)) {
        if (end === 0) continue;
        for await (const records of log.read(topic, partition, 0, { untilOffset: end })) {
          for (const record of records) {
            const value = type.fromBuffer(record.value!.subarray(5)) as {
              drv: number | null;
              ts: number;
              created_ms: number | null;
              speed_kmh: number | null;
              note: string | null;
            };
            if (value.drv === null) {
              keyless.push({ partition, offset: record.offset });
              continue;
            }
            out.push({
              values: {
                driver_id: value.drv,
                event_timestamp: value.ts * 1000,
                created_timestamp: value.created_ms === null ? null : value.created_ms * 1000,
                speed: value.speed_kmh,
                note: value.note,
              },
              partition,
              offset: record.offset,
              appendedAt: record.timestamp * 1000,
            });
          }
        }
      }
      return out;
    }

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'featurelog-source-export-'));
      log = await KafkaEventLog.connect({ brokers: env.kafkaBrokers, clientId: project });
      schemas = new ConfluentSchemaRegistry({ url: env.schemaRegistryUrl });
      store = await RedisOnlineStore.connect({ url: env.redisUrl });
      const codec = new HyparquetSegmentCodec();
      sources = { log, schemas, codec, offlineRoot: join(dir, 'offline'), project };
      await log.ensureTopic({ name: topicNames.segments(project), partitions: 1, config: {} });
      await log.ensureTopic({ name: topic, partitions: 3, config: {} });
      await waitFor(async () => (await log.endOffsets(topic)).size === 3, { description: 'the new topic to be known' });
      // The app's own subject (TopicNameStrategy); the Python serializer uses its latest version.
      await schemas.register(`${topic}-value`, APP_SCHEMA);

      // Wave 1, then the real compactor covers all of it under the view's offline key.
      await produceWithConfluent(Array.from({ length: 150 }, appRecord));
      const wave1 = await log.endOffsets(topic);
      const segmentLog = new SegmentLog({ log, serde: new SegmentEventSerde(schemas, project), project });
      const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };
      const registry = registryOf(DEFINITIONS);
      const compactor = await Compactor.start({
        project,
        offlineRoot: sources.offlineRoot,
        log,
        schemas,
        follower: { state: registry, catchUp: async () => undefined, onFolded: () => () => undefined },
        // The keyless records are invalid rows: dead-lettered into a DLQ created on the first one.
        dlqTopicSpec: { name: topicNames.dlq(project), partitions: 1, config: {} },
        codec,
        groupId: `${project}.compactor`,
        maxRows: 40, // several segments per partition
        maxAgeMs: 3_600_000,
        mergeIntervalMs: 3_600_000,
        gcIntervalMs: 3_600_000,
        orphanGraceMs: 3_600_000,
        replacedGraceMs: 3_600_000,
        rowGroupSize: 16,
        initialRetryMs: 50,
        maxRetryMs: 1_000,
        logger: quiet,
      });
      try {
        await waitFor(
          () =>
            [...wave1].every(
              ([partition, end]) => end === 0 || compactor.cursors(offlineViewKey(VIEW)).get(partition) === end,
            ),
          {
            description: 'the compactor to have read wave 1',
            timeoutMs: 60_000,
          },
        );
      } finally {
        await compactor.stop({ flush: true });
      }
      await segmentLog.catchUp();
      compactedUntil = new Map(
        segmentCoverage(segmentLog.catalog, offlineViewKey(VIEW)).partitions.map((p) => [p.partition, p.coveredUntil]),
      );
      for (const [partition, end] of wave1) assert.equal(compactedUntil.get(partition) ?? 0, end);
      assert.ok(liveSegments(segmentLog.catalog, offlineViewKey(VIEW)).length > 3);

      // Wave 2: only in the log tail.
      await produceWithConfluent(Array.from({ length: 120 }, appRecord));
      history = await readTopicByHand();
    });

    after(async () => {
      await store?.deleteView(project, VIEW.name).catch(() => undefined);
      await store?.close();
      await log?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    for (const asServed of [false, true]) {
      it(`exports exactly the oracle's point-in-time rows from segments + tail${asServed ? ' (as served)' : ''}`, async () => {
        const entities: { driver_id: number | null; t: number; label: number }[] = [];
        for (let i = 0; i < 300; i++) {
          const anchor = pick(history);
          const et = anchor.values.event_timestamp as number;
          const t = pick([
            base + Math.floor(rand() * 38) * GRID,
            et,
            et + VIEW.ttlSeconds * SECOND,
            et + VIEW.ttlSeconds * SECOND + 1,
            anchor.appendedAt,
            anchor.appendedAt - 1,
          ]);
          entities.push({ driver_id: rand() < 0.05 ? 999 : pick(DRIVERS), t, label: i });
        }
        const csv = join(dir, `entities-${asServed}.csv`);
        writeFileSync(
          csv,
          [
            'label,driver_id,event_timestamp',
            ...entities.map((e) => `${e.label},${e.driver_id},${naiveIso(e.t)}`),
          ].join('\n') + '\n',
        );
        const output = join(dir, `training-${asServed}.parquet`);
        const result = await exportTrainingSet(
          sources,
          DEFINITIONS,
          { entities: csv, features: ['ride_stats:*'], output, asServed },
          { workers: 0 },
        );
        assert.ok(result.segmentsRead > 0, 'some history comes from segments');
        assert.ok(result.tailRows > 0, 'some history comes only from the log tail');
        assert.equal(
          result.undecodableTailRecords,
          keyless.filter(({ partition, offset }) => offset >= (compactedUntil.get(partition) ?? 0)).length,
          'the keyless records of the tail are counted as unreadable, not silently dropped',
        );
        assert.deepEqual(result.watermarks[topic], Object.fromEntries(await log.endOffsets(topic)));
        const got = await readParquet(output);
        const expected = entities.map((entity) => {
          const winner = oracle(history, VIEW, 'driver_id', entity.driver_id, entity.t, asServed);
          return { speed: plain(winner?.values.speed ?? null), note: plain(winner?.values.note ?? null) };
        });
        assert.equal(got.length, entities.length);
        assert.deepEqual(
          got.map((row) => ({ speed: row.speed, note: row.note })),
          expected,
        );
        // The tail rows really count: some winners are rows that are in no segment.
        const fromTail = entities.filter((entity) => {
          const winner = oracle(history, VIEW, 'driver_id', entity.driver_id, entity.t, asServed);
          return winner !== null && winner.offset >= (compactedUntil.get(winner.partition) ?? 0);
        });
        assert.ok(fromTail.length > 0, 'some winners are only in the log tail');
      });
    }

    it('backfills the latest row per driver from the existing topic (--source log)', async () => {
      const result = await backfillView(
        sources,
        DEFINITIONS,
        store,
        { view: VIEW.name, source: 'log' },
        { retentionTtlMultiple: 0 }, // kept whatever their age, to be compared
      );
      assert.equal(result.rowsRead, history.length);
      assert.deepEqual(result.watermark, Object.fromEntries(await log.endOffsets(topic)));
      const drivers = [...new Set(history.map((row) => row.values.driver_id as number))];
      const read = await store.read(
        project,
        drivers.map((driver) => ({
          entityKey: encodeEntityKey(DRIVER.joinKeys, { driver_id: driver }),
          views: [VIEW.name],
        })),
      );
      // The latest row per driver: the point-in-time winner at the end of time, without a TTL.
      const latest = (driver: number) => {
        const winner = oracle(history, { ...VIEW, ttlSeconds: 0 }, 'driver_id', driver, Number.MAX_SAFE_INTEGER, false);
        return { speed: winner?.values.speed ?? null, note: winner?.values.note ?? null };
      };
      assert.deepEqual(
        drivers.map((_, i) => read[i]![0]?.features ?? null),
        drivers.map(latest),
      );
    });
  },
);
