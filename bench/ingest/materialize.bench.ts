/**
 * Materializer bench on the stack's Kafka, schema registry and Redis (stackEnv). One command, with the
 * stack up (`npm run stack -- up`) and its FEATURELOG_* port variables exported:
 *
 *   flock /tmp/featurelog-bench.lock node_modules/.bin/node -r @swc-node/register bench/ingest/materialize.bench.ts
 *
 *   BENCH_SCALE=0.1 …                       short mode
 *   BENCH_PROFILE=/tmp/m.cpuprofile …       CPU profile of this process while the materializer runs
 *   BENCH_TTL_SECONDS=3600 …                a view with TTL (each write also moves the key's expiry)
 *
 * Prints: the bare consumer's rate, the materializer's rate, their ratio (target >= 0.5, and >= 50,000
 * rows/s), CPU µs per row of this process and of redis-server while materializing (what limits the
 * rate), and freshness p50/p99 (target p99 < 20 ms, issue #15).
 *
 * Throughput: a topic of ROWS rows of a view of 10 features (3 partitions, ENTITIES entities) is
 * consumed, in the same run, by
 * - bare kafkajs: a consumer of a fresh group that only decodes each record (RowDecoder.decodeLoaded,
 *   the materializer's own decoder): the floor of consuming and decoding;
 * - the Materializer: decode, build online rows, one Lua writeBatch per batch with its checkpoint.
 * Rates count from the first record seen (first batch / first checkpoint written) to the last, so
 * that the consumer group join, the same for both, is left out (and shown apart).
 *
 * Freshness: rows produced at RATE rows/s (10 every 10 ms), each a new entity, while the Materializer
 * runs; a row is visible when Redis announces the write of its key (keyspace notifications on hash
 * events, switched on for the run and restored after). Latency = notification − the moment the row
 * was handed to append(). Producer, subscriber and materializer share this process.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import { Registry } from 'prom-client';
import { loadProjectConfig } from '@featurelog/config';
import {
  encodeEntityKey,
  topicNames,
  valueSubject,
  type FeatureViewDefinition,
  type TaggedDefinition,
} from '@featurelog/domain';
import { avroType, encodeRow, readerSchema, RowDecoder, rowSchemaFor, type FeatureRow } from '@featurelog/avro';
import { Materializer, MaterializerMetrics } from '@featurelog/materializer';
import { ProjectRuntime } from '@featurelog/runtime';
import { stackEnv, stackProjectYaml } from '@featurelog/testing';
import { exitOnFailure } from '../bench-entry';

const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const ROWS = Math.round(300_000 * SCALE);
const ENTITIES = Math.round(100_000 * SCALE);
const RATE = 1_000;
/** BENCH_TTL_SECONDS=<n>: the view has a TTL, so that every write also sets the key's expiry. */
const TTL_SECONDS = Number(process.env.BENCH_TTL_SECONDS ?? 0);
const FRESHNESS_SECONDS = Math.max(3, Math.round(15 * SCALE));
const START = Date.now() * 1_000;
const FEATURES = Array.from({ length: 10 }, (_, i) => ({
  name: `f${i}`,
  type: i < 6 ? ('float64' as const) : i < 9 ? ('int64' as const) : ('string' as const),
}));

const view: FeatureViewDefinition = {
  name: 'stats10',
  version: 1,
  entities: ['driver'],
  features: FEATURES,
  ttlSeconds: TTL_SECONDS,
  online: true,
  offline: true,
  partitions: 3,
};
const driverKeys = [{ name: 'driver_id', type: 'int64' as const }];

function row(i: number, entity: number, eventTimestamp: number): FeatureRow {
  const out: FeatureRow = { driver_id: entity, event_timestamp: eventTimestamp, created_timestamp: null };
  FEATURES.forEach((feature, f) => {
    const x = i * 31 + f;
    out[feature.name] = feature.type === 'float64' ? x / 7 : feature.type === 'int64' ? x % 100_000 : `v${x % 1_000}`;
  });
  return out;
}

function rate(rows: number, ms: number): string {
  return `${Math.round(rows / (ms / 1_000)).toLocaleString('en-US')} rows/s`;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const env = stackEnv();
  const project = `matbench_${Date.now().toString(36)}`;
  const repoDir = await mkdtemp(join(tmpdir(), 'materialize-bench-'));
  await writeFile(join(repoDir, 'featurelog.yaml'), stackProjectYaml(project));
  const runtime = await ProjectRuntime.open(await loadProjectConfig(repoDir, { env: {} }));
  const redis = new Redis(env.redisUrl);
  try {
    const { applier } = runtime.registry();
    const definitions: TaggedDefinition[] = [
      { kind: 'entity', definition: { name: 'driver', joinKeys: driverKeys } },
      { kind: 'feature_view', definition: view },
    ];
    await applier.apply(definitions);
    const topic = topicNames.features(project, view);
    const registered = (await runtime.schemas.latestVersion(valueSubject(topic)))!;
    const type = avroType(registered.schema);

    // ---- the topic -------------------------------------------------------------------------
    let produceMs = performance.now();
    const appends: Promise<unknown>[] = [];
    for (let start = 0; start < ROWS; start += 5_000) {
      const records = [];
      for (let i = start; i < Math.min(ROWS, start + 5_000); i++) {
        const r = row(i, i % ENTITIES, START + i);
        records.push({ key: Buffer.from(encodeEntityKey(driverKeys, r)), value: encodeRow(registered.id, type, r) });
      }
      appends.push(runtime.log.append(topic, records));
      if (appends.length >= 4) await appends.shift();
    }
    await Promise.all(appends);
    produceMs = performance.now() - produceMs;
    const ends = await runtime.log.endOffsets(topic);
    const total = [...ends.values()].reduce((a, b) => a + b, 0);
    console.log(
      `topic ${topic}: ${total.toLocaleString('en-US')} rows, ${ENTITIES.toLocaleString('en-US')} entities, produced at ${rate(total, produceMs)}`,
    );

    // ---- bare kafkajs: consume and decode ----------------------------------------------------
    const bare = await bareConsume(env.kafkaBrokers, topic, total, runtime.schemas, project);
    console.log(
      `bare kafkajs consume+decode: ${rate(total, bare.activeMs)} (join ${Math.round(bare.joinMs)} ms, total ${Math.round(bare.totalMs)} ms)`,
    );

    // ---- the materializer: topic → Redis -------------------------------------------------------
    const store = await runtime.onlineStore();
    const checkpointName = `${project}.bench`;
    const metrics = new Registry();
    const { follower } = runtime.registry();
    await follower.catchUp();
    const materializer = new Materializer({
      project,
      log: runtime.log,
      schemas: runtime.schemas,
      store,
      follower,
      checkpointName,
      groupId: `${project}.bench`,
      metrics: new MaterializerMetrics(metrics),
    });
    const profiler = await startProfile();
    const redisCpuBefore = await redisCpuSeconds(redis);
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    let firstSeen: number | undefined;
    const startPromise = materializer.start();
    for (;;) {
      const done = (await store.readCheckpoint(checkpointName))
        .filter((entry) => entry.topic === topic)
        .reduce((sum, entry) => sum + entry.nextOffset, 0);
      if (done > 0 && firstSeen === undefined) firstSeen = performance.now();
      if (done >= total) break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const finished = performance.now();
    const cpu = process.cpuUsage(cpuBefore);
    const redisCpu = (await redisCpuSeconds(redis)) - redisCpuBefore;
    await profiler?.();
    await startPromise;
    const activeMs = finished - (firstSeen ?? started);
    const materializerRate = total / (activeMs / 1_000);
    const bareRate = total / (bare.activeMs / 1_000);
    console.log(
      `materializer topic→Redis:    ${rate(total, activeMs)} (to first checkpoint ${Math.round((firstSeen ?? started) - started)} ms, total ${Math.round(finished - started)} ms)`,
    );
    console.log(
      `load average (1/5/15 min) after the throughput runs: ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}`,
    );
    console.log(
      `ratio materializer / bare: ${(materializerRate / bareRate).toFixed(2)} (target >= 0.5); >= 150,000 rows/s: ${materializerRate >= 150_000 ? 'yes' : 'no'}`,
    );
    const perRow = (seconds: number) => `${((seconds * 1e6) / total).toFixed(1)} µs/row`;
    console.log(
      `  CPU while materializing: this process ${perRow((cpu.user + cpu.system) / 1e6)} (consumer, decode, encode, ioredis), redis-server ${perRow(redisCpu)}; wall ${perRow(activeMs / 1_000)}`,
    );
    const writeCount = /featurelog_materializer_write_batch_seconds_count (\d+)/.exec(await metrics.metrics())?.[1];
    const writeSum = /featurelog_materializer_write_batch_seconds_sum ([\d.e-]+)/.exec(await metrics.metrics())?.[1];
    if (writeCount && writeSum) {
      console.log(
        `  ${writeCount} writeBatch calls, ${Math.round(total / Number(writeCount))} rows each on average, ${((Number(writeSum) * 1e6) / total).toFixed(1)} µs/row inside writeBatch (wall)`,
      );
    }

    // ---- freshness ---------------------------------------------------------------------------
    const previous = (await redis.config('GET', 'notify-keyspace-events')) as string[];
    await redis.config('SET', 'notify-keyspace-events', 'Kh');
    const subscriber = new Redis(env.redisUrl);
    const producedAt = new Map<number, number>();
    const latencies: number[] = [];
    const ackLatencies: number[] = [];
    try {
      await subscriber.psubscribe(`__keyspace@*__:fl:${project}:{driver_id=*}`);
      subscriber.on('pmessage', (_pattern: string, channel: string, event: string) => {
        if (event !== 'hset') return;
        const entity = Number(channel.slice(channel.lastIndexOf('=') + 1, -1));
        const at = producedAt.get(entity);
        if (at === undefined) return;
        producedAt.delete(entity);
        latencies.push(performance.now() - at);
      });
      const perTick = RATE / 100;
      const ticks = FRESHNESS_SECONDS * 100;
      let next = ENTITIES + 1_000_000;
      const begin = performance.now();
      const appends: Promise<unknown>[] = [];
      for (let tick = 0; tick < ticks; tick++) {
        const records = [];
        for (let i = 0; i < perTick; i++) {
          const entity = next++;
          const r = row(entity, entity, Date.now() * 1_000);
          records.push({ key: Buffer.from(encodeEntityKey(driverKeys, r)), value: encodeRow(registered.id, type, r) });
          producedAt.set(entity, performance.now());
        }
        const handedAt = performance.now();
        appends.push(runtime.log.append(topic, records).then(() => ackLatencies.push(performance.now() - handedAt)));
        const wait = begin + (tick + 1) * 10 - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      }
      await Promise.all(appends);
      const deadline = performance.now() + 10_000;
      while (producedAt.size > 0 && performance.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 20));
      latencies.sort((a, b) => a - b);
      ackLatencies.sort((a, b) => a - b);
      console.log(
        `freshness at ${RATE} rows/s for ${FRESHNESS_SECONDS} s: ${latencies.length} rows seen, p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms, max ${latencies[latencies.length - 1]!.toFixed(1)} ms (target p99 < 20 ms); ${producedAt.size} never seen`,
      );
      console.log(
        `  of which append() until acknowledged (acks=all): p50 ${percentile(ackLatencies, 50).toFixed(1)} ms, p99 ${percentile(ackLatencies, 99).toFixed(1)} ms`,
      );
    } finally {
      subscriber.disconnect();
      await redis.config('SET', 'notify-keyspace-events', previous[1] ?? '');
      await materializer.stop();
    }

    // Leave no bench data behind.
    await store.deleteView(project, view.name);
    await redis.del(`fl:__checkpoint:{${checkpointName}}`);
  } finally {
    redis.disconnect();
    await runtime.close();
    await rm(repoDir, { recursive: true, force: true });
  }
}

/** With BENCH_PROFILE=<file.cpuprofile>: a CPU profile of this process while the materializer runs. */
async function startProfile(): Promise<(() => Promise<void>) | undefined> {
  const file = process.env.BENCH_PROFILE;
  if (!file) return undefined;
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return async () => {
    const { profile } = await session.post('Profiler.stop');
    await writeFile(file, JSON.stringify(profile));
    session.disconnect();
    console.log(`  CPU profile of the materializer phase: ${file}`);
  };
}

/** CPU seconds redis-server has used so far (user + system, every thread). */
async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  return field('used_cpu_user') + field('used_cpu_sys');
}

async function bareConsume(
  brokers: string[],
  topic: string,
  total: number,
  schemas: ProjectRuntime['schemas'],
  project: string,
): Promise<{ activeMs: number; joinMs: number; totalMs: number }> {
  const reader = readerSchema(rowSchemaFor(view, [{ name: 'driver', joinKeys: driverKeys }], project));
  const decoder = new RowDecoder(schemas);
  const kafka = new Kafka({ brokers, clientId: 'materialize-bench', logLevel: logLevel.ERROR });
  const consumer = kafka.consumer({ groupId: `${topic}.bare.${Date.now()}`, maxWaitTimeInMs: 500 });
  const started = performance.now();
  let first: number | undefined;
  let seen = 0;
  let checksum = 0;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    eachBatch: async ({ batch }) => {
      first ??= performance.now();
      await decoder.loadAll(batch.messages.map((message) => message.value!));
      for (const message of batch.messages) {
        const decoded = decoder.decodeLoaded(message.value!, reader);
        checksum += decoded.driver_id as number;
      }
      seen += batch.messages.length;
      if (seen >= total) finish();
    },
  });
  await finished;
  const end = performance.now();
  await consumer.disconnect();
  if (checksum < 0) console.log(checksum);
  return { activeMs: end - first!, joinMs: first! - started, totalMs: end - started };
}

exitOnFailure(main());
