/**
 * Producer throughput: rows of a view with 10 features through FeatureProducer (validate, convert,
 * key by entity, encode in the Confluent wire format, append), on the embedded log and on Kafka,
 * beside bare kafkajs producing the same pre-encoded keys and values.
 *
 *   FEATURELOG_KAFKA_BROKERS=127.0.0.1:59092 \
 *   FEATURELOG_SCHEMA_REGISTRY_URL=http://127.0.0.1:58081/apis/ccompat/v7 \
 *     node_modules/.bin/node -r @swc-node/register bench/ingest/produce.bench.ts
 *   BENCH_SCALE=0.1 … (short mode); BENCH_KAFKA=0 skips Kafka.
 *
 * Cases (batches of 1,000 rows, one append at a time, as the producer does):
 * - encode only: ViewTarget.check + record, no append — the CPU cost per row of our side.
 * - producer → embedded log: FileEventLog, fsync `batch` (every append durable before it resolves).
 * - producer → Kafka: KafkaEventLog (idempotent producer, acks=-1) and the schema registry.
 * - bare kafkajs: an idempotent kafkajs producer, acks=-1, sending the producer's own encoded records
 *   (same keys, same bytes, same partitions) to another topic of the same shape. The floor.
 * Cases alternate in rounds so drift in the machine hits all alike; the best round is reported.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Table3 from 'cli-table3';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import type { ProjectConfig } from '@featurelog/config';
import type { TaggedDefinition } from '@featurelog/domain';
import { partitionForKey, type AppendRecord } from '@featurelog/log';
import { FeatureProducer, type InputRow } from '@featurelog/producer';
import { ProjectRuntime } from '@featurelog/runtime';
import { stackEnv } from '@featurelog/testing';

const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const ROWS = Math.round(200_000 * SCALE);
const BATCH = 1_000;
const ROUNDS = 3;
const PARTITIONS = 6;
const WITH_KAFKA = process.env.BENCH_KAFKA !== '0';
const START = 1_735_689_600_000_000;
const FEATURES = Array.from({ length: 10 }, (_, i) => `f${i}`);

function definitions(): TaggedDefinition[] {
  return [
    { kind: 'entity', definition: { name: 'driver', joinKeys: [{ name: 'driver_id', type: 'int64' }] } },
    {
      kind: 'feature_view',
      definition: {
        name: 'stats10',
        version: 1,
        entities: ['driver'],
        features: FEATURES.map((name) => ({ name, type: 'float64' as const })),
        ttlSeconds: 0,
        online: true,
        offline: true,
        partitions: PARTITIONS,
      },
    },
  ];
}

function rows(round: number): InputRow[] {
  return Array.from({ length: ROWS }, (_, i) => {
    const row: Record<string, unknown> = { driver_id: i % 50_000, event_timestamp: START + round * ROWS + i };
    for (let f = 0; f < FEATURES.length; f++) row[FEATURES[f]!] = ((i * 31 + f) % 1_000) / 7;
    return row;
  });
}

async function openProject(kind: 'embedded' | 'kafka', dir: string) {
  const env = stackEnv();
  const project = `bench_${kind}_${Date.now()}`;
  const config: ProjectConfig = {
    project,
    repoDir: dir,
    log:
      kind === 'kafka'
        ? { type: 'kafka', brokers: env.kafkaBrokers, clientId: 'produce-bench' }
        : { type: 'embedded', path: join(dir, kind, 'log') },
    schemaRegistry:
      kind === 'kafka'
        ? { type: 'confluent', url: env.schemaRegistryUrl }
        : { type: 'embedded', path: join(dir, kind, 'schemas') },
    onlineStore: { type: 'embedded', path: join(dir, kind, 'online') },
    offlineStore: { type: 'local', path: join(dir, kind, 'offline') },
  };
  const runtime = await ProjectRuntime.open(config);
  const { follower, applier } = runtime.registry();
  await applier.apply(definitions());
  const producer = new FeatureProducer({ log: runtime.log, schemas: runtime.schemas, project, definitions: follower });
  return { runtime, producer };
}

async function timed(work: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await work();
  return ROWS / ((performance.now() - started) / 1000);
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'produce-bench-'));
  const embedded = await openProject('embedded', dir);
  const kafka = WITH_KAFKA ? await openProject('kafka', dir) : undefined;
  const env = stackEnv();
  const bare = new Kafka({ brokers: env.kafkaBrokers, clientId: 'produce-bench-bare', logLevel: logLevel.ERROR });
  const bareProducer = bare.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  const bareTopic = `produce_bench_bare_${Date.now()}`;
  if (kafka) {
    await bareProducer.connect();
    const admin = bare.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: bareTopic, numPartitions: PARTITIONS }], waitForLeaders: true });
    await admin.disconnect();
  }

  const best: Record<string, number> = {};
  const record = (name: string, rate: number) => (best[name] = Math.max(best[name] ?? 0, rate));
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const input = rows(round);
      const target = await embedded.producer.target('stats10');
      let encoded: AppendRecord[] = [];
      record(
        'encode only (check + key + Avro wire format)',
        await timed(async () => {
          encoded = input.map((row) => target.record(target.check(row).row));
        }),
      );
      const viaStream = async (producer: FeatureProducer) => {
        const stream = await producer.stream('stats10', { batchSize: BATCH });
        for (let i = 0; i < input.length; i += BATCH) await stream.write(input.slice(i, i + BATCH));
        await stream.close();
      };
      record('producer → embedded log (fsync batch)', await timed(() => viaStream(embedded.producer)));
      if (kafka) {
        record('producer → Kafka (idempotent, acks=-1)', await timed(() => viaStream(kafka.producer)));
        record(
          'bare kafkajs, same encoded bytes (idempotent, acks=-1)',
          await timed(async () => {
            for (let i = 0; i < encoded.length; i += BATCH) {
              await bareProducer.send({
                topic: bareTopic,
                acks: -1,
                messages: encoded.slice(i, i + BATCH).map((r) => ({
                  key: r.key,
                  value: r.value,
                  partition: partitionForKey(r.key!, PARTITIONS),
                })),
              });
            }
          }),
        );
      }
    }
  } finally {
    if (kafka) await bareProducer.disconnect();
    await embedded.runtime.close();
    await kafka?.runtime.close();
    await rm(dir, { recursive: true, force: true });
  }

  const floor = best['bare kafkajs, same encoded bytes (idempotent, acks=-1)'];
  const table = new Table3({ head: ['case', 'rows/s (best of 3)', 'vs bare kafkajs'] });
  for (const [name, rate] of Object.entries(best)) {
    table.push([name, Math.round(rate).toLocaleString('en'), floor ? `${(rate / floor).toFixed(2)}×` : '-']);
  }
  process.stdout.write(
    `${ROWS.toLocaleString('en')} rows of 1 int64 key + 10 float64 features, batches of ${BATCH}, ${PARTITIONS} partitions\n${table.toString()}\n`,
  );
}

void main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
