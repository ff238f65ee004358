/**
 * Subscription bench: latency from appending a feature row to Kafka to a GET /subscribe client
 * receiving it as an `update` event (target: p99 under 100 ms at 1,000 rows/s), beside the floor
 * measured on the very same records: a bare EventLog.follow of the topic in the load process
 * (Kafka's own append → fetch latency, no decoding, no HTTP).
 *
 * Needs the stack (Kafka, schema registry, Redis; tools/stack/stack-env.ts names where):
 *   node_modules/.bin/node -r @swc-node/register bench/online/subscribe.bench.ts
 *   BENCH_SCALE=0.3 …   (shorter run)
 *
 * The serving app runs in a child process (as deployed); this process appends 10 rows every 10 ms
 * (more at once when an append took longer than its slot), round-robin over 50 drivers of one
 * subscription, and reads the SSE stream. Both clocks are this
 * process's, so "from send" includes the append itself, "from ack" starts when Kafka acknowledged it.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { cpus, loadavg } from 'node:os';
import Table3 from 'cli-table3';
import { avroType, ConfluentSchemaRegistry, encodeRow, rowSchemaFor } from '@featurelog/avro';
import { requireDefinition, SILENT_LOGGER, topicNames, valueSubject, type FeatureValue } from '@featurelog/domain';
import { KafkaEventLog } from '@featurelog/log';
import { createMetricsRegistry } from '@featurelog/observability';
import { RedisOnlineStore } from '@featurelog/online-store';
import { RegistryFollower, type RegistryCodec } from '@featurelog/registry';
import { registryOf, servingTestDefinitions, upsertChangeset } from '@featurelog/serving/testing';
import { createServingApp } from '@featurelog/app-serving';
import { stackEnv } from '@featurelog/testing';
import { exitOnFailure } from '../bench-entry';

const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const RATE = 1_000;
const DURATION_S = Math.max(3, Math.round(10 * SCALE));
const ROWS_PER_APPEND = 10;
const ENTITIES = 50;
const PARTITIONS = 2;

const jsonCodec: RegistryCodec = {
  encode: async (changeset) => Buffer.from(JSON.stringify(changeset)),
  decode: async (value) => JSON.parse(value.toString()) as never,
};

/** Child process: the serving app over Kafka, the schema registry and Redis, following `project`'s registry. */
async function serve(project: string): Promise<void> {
  const env = stackEnv();
  const log = await KafkaEventLog.connect({ brokers: env.kafkaBrokers, logLevel: 'ERROR' });
  const schemas = new ConfluentSchemaRegistry({ url: env.schemaRegistryUrl });
  const onlineStore = await RedisOnlineStore.connect({ url: env.redisUrl, keyPrefix: `bench_sub_${project}` });
  const follower = new RegistryFollower({ log, codec: jsonCodec, project });
  await follower.start(`${project}.bench.serving.registry`);
  const app = await createServingApp({
    project,
    onlineStore,
    log,
    follower,
    schemaRegistry: schemas,
    auth: {},
    metrics: createMetricsRegistry('serving'),
    logger: SILENT_LOGGER,
    onClose: async () => {
      await follower.stop();
      await onlineStore.close();
      await schemas.close();
      await log.close();
    },
  });
  await app.listen(0, '127.0.0.1');
  process.send!({ url: (await app.getUrl()).replace('[::1]', '127.0.0.1') });
  process.on('disconnect', () => void app.close().then(() => process.exit(0)));
}

interface Sent {
  sentAt: number;
  ackedAt: number;
}

function percentiles(samples: number[]): { p50: number; p99: number; max: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return { p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] ?? NaN };
}

async function main(): Promise<void> {
  const env = stackEnv();
  const project = `subbench_${Date.now().toString(36)}`;
  const log = await KafkaEventLog.connect({ brokers: env.kafkaBrokers, logLevel: 'ERROR' });
  const schemas = new ConfluentSchemaRegistry({ url: env.schemaRegistryUrl });
  const definitions = servingTestDefinitions();
  const registryTopic = topicNames.registry(project);
  await log.ensureTopic({ name: registryTopic, partitions: 1, config: {} });
  await log.append(registryTopic, [{ key: null, value: await jsonCodec.encode(upsertChangeset(definitions)) }]);
  const state = registryOf(definitions);
  const view = requireDefinition(state, 'feature_view', 'driver_stats');
  const entities = view.entities.map((name) => requireDefinition(state, 'entity', name));
  const topic = topicNames.features(project, view);
  await log.ensureTopic({ name: topic, partitions: PARTITIONS, config: {} });
  const schema = rowSchemaFor(view, entities, project);
  const schemaId = await schemas.register(valueSubject(topic), schema);
  const type = avroType(schema);

  const child: ChildProcess = fork(__filename, ['serve', project], { execArgv: ['-r', '@swc-node/register'] });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (message) => resolve((message as { url: string }).url));
    child.once('exit', (code) => reject(new Error(`serving child exited with ${code}`)));
  });

  const sent = new Map<number, Sent>();
  /** Sequence and arrival time of every row seen, per path; latencies are worked out once every ack is in. */
  const viaSse: Array<[number, number]> = [];
  const viaFollow: Array<[number, number]> = [];
  const ids = Array.from({ length: ENTITIES }, (_, i) => 1_000 + i);

  // The floor: this process follows the topic itself, every partition from its current end.
  const ends = await log.endOffsets(topic);
  const floorStop = new AbortController();
  const floors = [...ends].map(async ([partition, end]) => {
    for await (const records of log.follow(topic, partition, end, { signal: floorStop.signal })) {
      const now = performance.now();
      for (const record of records) viaFollow.push([Number(record.headers.seq?.toString()), now]);
    }
  });

  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    const request = httpRequest(
      `${url}/subscribe?features=driver_stats:trips&entities=${encodeURIComponent(JSON.stringify({ driver_id: ids }))}`,
      { headers: { accept: 'text/event-stream' } },
      resolve,
    );
    request.on('error', reject);
    request.end();
  });
  let buffer = '';
  let snapshot = false;
  let updates = 0;
  response.setEncoding('utf8');
  response.on('data', (chunk: string) => {
    const now = performance.now();
    buffer += chunk;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (block.startsWith('event: snapshot')) snapshot = true;
      if (!block.startsWith('event: update')) continue;
      updates++;
      // trips carries the row's sequence number.
      viaSse.push([Number(/"trips":(-?\d+)/.exec(block)?.[1]), now]);
    }
  });
  while (!snapshot) await new Promise((resolve) => setTimeout(resolve, 10));

  const total = RATE * DURATION_S;
  const started = performance.now();
  let first = 0;
  while (first < total) {
    // Paced by timers, so the loop does not spin on the machine it measures; an append that took
    // longer than its slot is followed by a bigger one, so the rate holds.
    const wait = started + (first * 1_000) / RATE - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const due = Math.floor(((performance.now() - started) * RATE) / 1_000);
    const count = Math.min(total - first, Math.max(ROWS_PER_APPEND, due - first));
    const rows = Array.from({ length: count }, (_, j) => first + j);
    first += count;
    const sentAt = performance.now();
    const pending = log.append(
      topic,
      rows.map((sequence) => {
        const driverId = ids[sequence % ids.length]!;
        const row: Record<string, FeatureValue> = {
          driver_id: driverId,
          event_timestamp: Date.now() * 1_000 + sequence,
          created_timestamp: null,
          conv_rate: 0.5,
          acc_rate: 0.5,
          trips: sequence,
        };
        return {
          key: Buffer.from(`driver_id=${driverId}`),
          value: encodeRow(schemaId, type, row),
          headers: { seq: String(sequence) },
        };
      }),
    );
    const entries = rows.map((sequence) => {
      const entry = { sentAt, ackedAt: NaN };
      sent.set(sequence, entry);
      return entry;
    });
    await pending;
    const ackedAt = performance.now();
    for (const entry of entries) entry.ackedAt = ackedAt;
  }
  const rate = total / ((performance.now() - started) / 1_000);
  const deadline = performance.now() + 30_000;
  while ((viaSse.length < total || viaFollow.length < total) && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  floorStop.abort();
  await Promise.all(floors);
  response.destroy();
  child.disconnect();
  await log.close();
  await schemas.close();

  const table = new Table3({
    head: ['path', 'rows seen', 'p50 ms', 'p99 ms', 'max ms', 'p50 from ack', 'p99 from ack'],
  });
  const line = (name: string, arrivals: Array<[number, number]>) => {
    const seen = arrivals.flatMap(([sequence, at]) => {
      const entry = sent.get(sequence);
      return entry === undefined ? [] : [{ at, ...entry }];
    });
    const samples = seen.map(({ at, sentAt }) => at - sentAt);
    const all = percentiles(samples);
    // A fetch can return a record before the producer has read its acknowledgement: that counts as 0.
    const ack = percentiles(seen.map(({ at, ackedAt }) => Math.max(0, at - ackedAt)));
    table.push([
      name,
      `${samples.length}/${total}`,
      all.p50.toFixed(1),
      all.p99.toFixed(1),
      all.max.toFixed(1),
      ack.p50.toFixed(1),
      ack.p99.toFixed(1),
    ]);
  };
  line('floor: EventLog.follow (Kafka)', viaFollow);
  line('serving: GET /subscribe (SSE)', viaSse);
  console.log(
    `append → subscriber at ${rate.toFixed(0)} rows/s for ${DURATION_S} s, ${ENTITIES} entities over ${PARTITIONS} partitions, ` +
      `${updates} update events; ${cpus().length} CPUs, load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')} at the end`,
  );
  console.log(table.toString());
  const p99Of = (arrivals: Array<[number, number]>) =>
    percentiles(arrivals.map(([sequence, at]) => at - (sent.get(sequence)?.sentAt ?? at))).p99;
  console.log(`serving p99 / floor p99: ${(p99Of(viaSse) / p99Of(viaFollow)).toFixed(2)}`);
}

exitOnFailure(process.argv[2] === 'serve' ? serve(process.argv[3]!) : main());
