import assert from 'node:assert/strict';
import { consoleLogger } from '@featurelog/observability';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Redis from 'ioredis';
import { topicNames, type TaggedDefinition, SILENT_LOGGER } from '@featurelog/domain';
import { avroType, encodeRow, type FeatureRow } from '@featurelog/avro';
import { DLQ_HEADERS, type LogRecord } from '@featurelog/log';
import { stackEnv, waitFor } from '@featurelog/testing';
import { Registry } from 'prom-client';
import {
  baseDefinitions,
  openTestProject,
  startMaterializer,
  statsRowsAround,
  statsView,
  storedValues,
  waitForStoreToEqualFold,
  type RunningMaterializer,
  type TestProject,
} from './materializer.test-kit';

const now = Date.now() * 1_000;
/** How long the int specs wait for the store to equal the fold of the log, and how often they look. */
const FOLD_WAIT = { timeoutMs: 60_000, intervalMs: 200 };
const PYTHON = join(__dirname, '..', '..', '..', '.venv', 'bin', 'python');
const CONFLUENT_APP = join(__dirname, '..', '..', 'producer', 'test-fixtures', 'confluent_interop.py');

/** Why Python's Confluent serializer cannot run here, if it cannot. */
function pythonProblem(): string | undefined {
  if (!existsSync(PYTHON)) return `${PYTHON} is missing (bash tools/stack/install-system.sh)`;
  if (!existsSync(CONFLUENT_APP)) return `${CONFLUENT_APP} is missing`;
  const check = spawnSync(PYTHON, ['-W', 'ignore', '-c', 'import confluent_kafka.schema_registry.avro, fastavro'], {
    encoding: 'utf8',
  });
  return check.status === 0 ? undefined : `Python lacks confluent-kafka/fastavro: ${check.stderr}`;
}
const row = statsRowsAround(now);

/**
 * Removes every key of the project and the materializer's checkpoint: to the materializer this is
 * FLUSHALL, without wiping what other tests sharing the Redis hold.
 */
async function wipeProject(project: string): Promise<number> {
  const redis = new Redis(stackEnv().redisUrl);
  try {
    let removed = 0;
    for (const pattern of [`fl:${project}:*`, `fl:__checkpoint:{${project}.*`]) {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1_000);
        cursor = next;
        if (keys.length > 0) removed += await redis.del(...keys);
      } while (cursor !== '0');
    }
    return removed;
  } finally {
    redis.disconnect();
  }
}

describe('Materializer on Kafka, the schema registry and Redis', () => {
  let test: TestProject;
  let running: RunningMaterializer;
  const metrics = new Registry();

  before(async () => {
    test = await openTestProject('stack');
    await test.apply(baseDefinitions());
    running = await startMaterializer(test, {
      registry: metrics,
      wipeCheckIntervalMs: 200,
      registryPollMs: 1_000,
      logger: process.env.FEATURELOG_TEST_VERBOSE ? consoleLogger() : SILENT_LOGGER,
    });
  });

  after(async () => {
    await running?.stop();
    await test?.close();
  });

  it('materializes the rows of the topic, exactly the fold of the log', async () => {
    const rows: FeatureRow[] = [];
    for (let i = 0; i < 2_000; i++) rows.push(row(i % 300, (i * 7919) % 1_000, i));
    await test.produce('driver_stats', rows);
    assert.equal((await waitForStoreToEqualFold(test, FOLD_WAIT)).size, 300);
    const text = await metrics.metrics();
    assert.match(text, /featurelog_materializer_rows_total\{view="driver_stats",outcome="won"\} \d+/);
    assert.match(text, /featurelog_materializer_lag_records\{topic="[^"]+",partition="2"\} 0/);
  });

  it('comes back complete after the store is wiped while running', async () => {
    const removed = await wipeProject(test.project);
    assert.ok(removed > 300, `wiped ${removed} keys`);
    await test.produce('driver_stats', [row(5_000, 1, 1)]);
    assert.equal((await waitForStoreToEqualFold(test, FOLD_WAIT)).size, 301);
    assert.match(await metrics.metrics(), /featurelog_materializer_rebuilds_total\{reason="checkpoint-vanished"\} 1/);
  });

  it('materializes a view applied while it runs, and forgets a deleted one, without restart', async () => {
    const live = statsView({ name: 'driver_live', features: [{ name: 'speed', type: 'float64' }] });
    await test.apply(baseDefinitions(statsView(), live));
    await test.produce('driver_live', [{ driver_id: 7, event_timestamp: now, created_timestamp: null, speed: 88 }]);
    assert.equal((await waitForStoreToEqualFold(test, { view: 'driver_live', ...FOLD_WAIT })).size, 1);
    await test.apply(baseDefinitions(statsView()));
    await waitFor(
      async () =>
        !running.materializer.topics().includes(topicNames.features(test.project, live)) &&
        (await storedValues(await test.store(), test.project, 'driver_live', ['driver_id=7'])).size === 0,
      { description: 'the deleted view to be forgotten', timeoutMs: 30_000 },
    );
    assert.equal((await waitForStoreToEqualFold(test, FOLD_WAIT)).size, 301, 'the other view is untouched');
  });

  it('reads an existing topic with its own schema, field mapping and timestamp field; dead-letters its bad records', async () => {
    const topic = `${test.project}_rides`;
    await test.runtime.log.ensureTopic({ name: topic, partitions: 2, config: {} });
    // Right after creation kafkajs' admin may not know the new topic's partitions yet (and then fails
    // offset requests of any topic); wait until it does.
    await waitFor(async () => (await test.runtime.log.endOffsets(topic)).size === 2, {
      description: 'the new topic to be known',
    });
    const schema = {
      type: 'record',
      name: 'Ride',
      namespace: 'com.example',
      fields: [
        { name: 'drv', type: ['null', 'long'] },
        { name: 'ts', type: { type: 'long', logicalType: 'timestamp-millis' } },
        { name: 'speed_kmh', type: ['null', 'double', 'string'] },
        { name: 'note', type: 'string' },
      ],
    };
    const id = await test.runtime.schemas.register(`${topic}-value`, schema);
    const type = avroType(schema);
    const millis = Math.floor(now / 1_000);
    const encode = (value: Record<string, unknown>) => encodeRow(id, type, value as FeatureRow);
    const live = statsView({ name: 'rides_live', source: 'rides', features: [{ name: 'speed', type: 'float64' }] });
    await test.apply([
      ...baseDefinitions(statsView(), live),
      {
        kind: 'data_source',
        definition: {
          name: 'rides',
          kind: 'kafka',
          topic,
          timestampField: 'ts',
          fieldMapping: { drv: 'driver_id', speed_kmh: 'speed' },
        },
      },
    ] as TaggedDefinition[]);
    const key = Buffer.from('k');
    const [first] = await test.runtime.log.append(topic, [
      { key, value: encode({ drv: 1, ts: millis, speed_kmh: 10, note: 'a' }), partition: 0 },
      { key, value: encode({ drv: null, ts: millis, speed_kmh: 11, note: 'no key' }), partition: 0 },
      { key, value: encode({ drv: 2, ts: millis, speed_kmh: 'fast', note: 'bad type' }), partition: 0 },
      { key, value: encode({ drv: 3, ts: -1e15, speed_kmh: 12, note: 'year -29000' }), partition: 0 },
      { key, value: encode({ drv: 1, ts: millis + 1, speed_kmh: 13, note: 'newer' }), partition: 0 },
      { key, value: encode({ drv: 4, ts: millis, speed_kmh: null, note: 'other partition' }), partition: 1 },
    ]);
    const store = await test.store();
    const stored = await waitFor(
      async () => {
        const values = await storedValues(store, test.project, 'rides_live', ['driver_id=1', 'driver_id=4']);
        return values.get('driver_id=1')?.features.speed === 13 && values.size === 2 ? values : undefined;
      },
      { description: 'the good records of the existing topic', timeoutMs: 30_000 },
    );
    assert.equal(stored.get('driver_id=1')?.version.eventTimestamp, (millis + 1) * 1_000);
    assert.deepEqual(stored.get('driver_id=4')?.features, { speed: null });
    const letters = await waitFor(
      async () => {
        const found = (await readAll(test, topicNames.dlq(test.project))).filter(
          (letter) => letter.headers[DLQ_HEADERS.sourceTopic]?.toString() === topic,
        );
        return found.length >= 3 ? found : undefined;
      },
      { description: 'three dead letters from the existing topic', timeoutMs: 30_000 },
    );
    assert.deepEqual(
      letters.map((letter) => [
        letter.headers[DLQ_HEADERS.errorCode]?.toString(),
        Number(letter.headers[DLQ_HEADERS.sourceOffset]?.toString()) - first!.offset,
      ]),
      [
        ['MISSING_JOIN_KEY', 1],
        ['SOURCE_TYPE_MISMATCH', 2],
        ['INVALID_TIMESTAMP', 3],
      ],
    );
    assert.match(letters[1]!.headers[DLQ_HEADERS.errorReason]!.toString(), /speed/);
  });

  it('never lets an older row overwrite a newer one, whatever the arrival order', async () => {
    await test.produce('driver_stats', [row(9_000, 500, 3), row(9_000, 100, 1), row(9_000, 500, 2)]);
    await waitForStoreToEqualFold(test, FOLD_WAIT);
    const stored = await storedValues(await test.store(), test.project, 'driver_stats', ['driver_id=9000']);
    assert.equal(stored.get('driver_id=9000')?.features.trips, 2, 'the tie goes to the later offset');
  });

  it("materializes a record produced by Python's Confluent AvroSerializer", { skip: pythonProblem() }, async () => {
    const env = stackEnv();
    const value = {
      driver_id: 4_242,
      event_timestamp: now + 9,
      created_timestamp: null,
      conv_rate: 0.5,
      trips: 42,
      city: 'Zürich',
    };
    const out = await new Promise<string>((done, fail) => {
      const child = execFile(
        PYTHON,
        [
          CONFLUENT_APP,
          'produce',
          '--topic',
          test.topic('driver_stats'),
          '--timestamp-fields',
          'event_timestamp,created_timestamp',
          '--brokers',
          env.kafkaBrokers.join(','),
          '--registry',
          env.schemaRegistryUrl,
        ],
        { timeout: 90_000 },
        (error, stdout, stderr) => (error ? fail(new Error(`${error.message}\n${stderr}`)) : done(stdout)),
      );
      child.stdin!.end(JSON.stringify({ key: 'driver_id=4242', value }));
    });
    assert.deepEqual(JSON.parse(out), { produced: 1 });
    const stored = await waitFor(
      async () =>
        (await storedValues(await test.store(), test.project, 'driver_stats', ['driver_id=4242'])).get(
          'driver_id=4242',
        ),
      { description: 'the row produced by Python', timeoutMs: 30_000 },
    );
    assert.deepEqual(stored.features, { conv_rate: 0.5, trips: 42, city: 'Zürich' });
    assert.equal(stored.version.eventTimestamp, now + 9);
  });
});

async function readAll(test: TestProject, topic: string): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  for (const [partition, end] of await test.runtime.log.endOffsets(topic)) {
    if (end === 0) continue;
    for await (const records of test.runtime.log.read(topic, partition, 0, { untilOffset: end })) out.push(...records);
  }
  return out;
}
