import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { avroType, ConfluentSchemaRegistry, encodeRow, rowSchemaFor } from '@featurelog/avro';
import {
  encodeEntityKey,
  requireDefinition,
  topicNames,
  valueSubject,
  type FeatureValue,
  type FeatureViewDefinition,
} from '@featurelog/domain';
import { KafkaEventLog } from '@featurelog/log';
import { waitFor } from '@featurelog/testing';
import { startServing, type ServingUnderTest } from './serving.test-kit';

const brokers = (process.env.FEATURELOG_KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const registryUrl = process.env.FEATURELOG_SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7';

interface SseEvent {
  event: string;
  data: {
    rows?: Array<{ entity_key: string; status: string; values: Record<string, unknown> | null }>;
    entity_key?: string;
    values?: Record<string, unknown>;
    version?: { offset: number };
    reason?: string;
  };
  receivedAt: number;
}

/** Reads an SSE response into a list of events as they arrive. */
function collect(response: IncomingMessage): SseEvent[] {
  const events: SseEvent[] = [];
  let buffer = '';
  response.setEncoding('utf8');
  response.on('data', (chunk: string) => {
    buffer += chunk;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event && data)
        events.push({ event, data: JSON.parse(data) as SseEvent['data'], receivedAt: performance.now() });
    }
  });
  return events;
}

function open(url: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { headers: { accept: 'text/event-stream' } }, resolve);
    request.on('error', reject);
    request.end();
  });
}

describe('GET /subscribe over real Kafka, schema registry and Redis', () => {
  let serving: ServingUnderTest;
  let kafka: KafkaEventLog;
  let schemas: ConfluentSchemaRegistry;
  const encoders = new Map<
    string,
    { topic: string; view: FeatureViewDefinition; schemaId: number; type: ReturnType<typeof avroType> }
  >();

  before(async () => {
    kafka = await KafkaEventLog.connect({ brokers, maxWaitTimeMs: 50, logLevel: 'ERROR' });
    schemas = new ConfluentSchemaRegistry({ url: registryUrl });
    serving = await startServing({ log: kafka, schemaRegistry: schemas, subscriptions: { maxQueuedEvents: 50 } });
    for (const name of ['driver_stats', 'customer_profile']) {
      const state = serving.follower.state;
      const view = requireDefinition(state, 'feature_view', name);
      const entities = view.entities.map((entity) => requireDefinition(state, 'entity', entity));
      const topic = topicNames.features(serving.project, view);
      await kafka.ensureTopic({ name: topic, partitions: 2, config: {} });
      const schema = rowSchemaFor(view, entities, serving.project);
      const schemaId = await schemas.register(valueSubject(topic), schema);
      encoders.set(name, { topic, view, schemaId, type: avroType(schema) });
    }
  });
  after(async () => {
    await serving.close();
    await kafka.close();
    await schemas.close();
  });

  /** Appends rows to the view's topic, then materializes them into Redis, as the materializer would. */
  async function produce(viewName: string, rows: Array<Record<string, FeatureValue>>): Promise<void> {
    const { topic, view, schemaId, type } = encoders.get(viewName)!;
    const joinKeys =
      viewName === 'driver_stats'
        ? [{ name: 'driver_id', type: 'int64' as const }]
        : [{ name: 'customer_id', type: 'string' as const }];
    const keys = rows.map((row) => encodeEntityKey(joinKeys, row));
    const positions = await kafka.append(
      topic,
      rows.map((row, i) => ({ key: Buffer.from(keys[i]!), value: encodeRow(schemaId, type, row) })),
    );
    await serving.store.writeBatch({
      rows: rows.map((row, i) => ({
        project: serving.project,
        entityKey: keys[i]!,
        view: view.name,
        version: { eventTimestamp: row.event_timestamp as number, createdTimestamp: null, position: positions[i]! },
        features: Object.fromEntries(view.features.map((f) => [f.name, row[f.name] ?? null])),
      })),
    });
  }

  const driverRow = (driverId: number, trips: number, eventTimestamp = Date.now() * 1_000) => ({
    driver_id: driverId,
    event_timestamp: eventTimestamp,
    created_timestamp: null,
    conv_rate: trips / 100,
    acc_rate: 0.5,
    trips,
  });

  it('sends the current values, then every newer change of its entities only, never a regression', async () => {
    await produce('driver_stats', [driverRow(1, 1)]);
    const response = await open(
      `${serving.url}/subscribe?features=driver_stats:trips,driver_stats:conv_rate&entities=${encodeURIComponent('{"driver_id":[1,2]}')}`,
    );
    assert.equal(response.statusCode, 200);
    assert.match(response.headers['content-type'] ?? '', /text\/event-stream/);
    const events = collect(response);
    await waitFor(() => events.length >= 1, { description: 'snapshot' });
    assert.equal(events[0]!.event, 'snapshot');
    assert.deepEqual(
      events[0]!.data.rows!.map((r) => [r.entity_key, r.status, r.values?.trips ?? null]),
      [
        ['driver_id=1', 'PRESENT', 1],
        ['driver_id=2', 'NOT_FOUND', null],
      ],
    );
    const past = Date.now() * 1_000 - 60_000_000;
    await produce('driver_stats', [driverRow(2, 20), driverRow(3, 30), driverRow(1, 2)]);
    await produce('driver_stats', [driverRow(1, -1, past)]); // older than what the subscriber holds
    await produce('driver_stats', [driverRow(1, 3)]);
    await waitFor(() => events.some((e) => e.data.values?.trips === 3), { description: 'the update trips=3' });
    assert.deepEqual(
      events.slice(1).map((e) => [e.event, e.data.entity_key, e.data.values?.trips]),
      [
        ['update', 'driver_id=2', 20],
        ['update', 'driver_id=1', 2],
        ['update', 'driver_id=1', 3],
      ],
    );
    response.destroy();
  });

  it('delivers 1,000 rows/s from append to subscriber, and reports p50/p99 (target p99 < 100 ms)', async () => {
    const ids = Array.from({ length: 50 }, (_, i) => 1_000 + i);
    const response = await open(
      `${serving.url}/subscribe?features=driver_stats:trips&entities=${encodeURIComponent(JSON.stringify({ driver_id: ids }))}`,
    );
    const events = collect(response);
    try {
      await waitFor(() => events.length >= 1, { description: 'snapshot' });
      const sentAt = new Map<number, number>();
      const ackedAt = new Map<number, number>();
      const total = 3_000;
      const started = performance.now();
      for (let i = 0; i < total; i += 10) {
        // 10 rows every 10 ms: 1,000 rows/s, paced by timers so the loop does not spin.
        const wait = started + i - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        const rows = Array.from({ length: 10 }, (_, j) => driverRow(ids[(i + j) % ids.length]!, i + j));
        const sent = performance.now();
        await kafkaAppendOnly(rows);
        const acked = performance.now();
        for (const row of rows) {
          sentAt.set(row.trips, sent);
          ackedAt.set(row.trips, acked);
        }
      }
      const rate = total / ((performance.now() - started) / 1000);
      await waitFor(() => events.filter((e) => e.event === 'update').length >= total, {
        timeoutMs: 30_000,
        description: `${total} updates`,
      });
      const updates = events.filter((e) => e.event === 'update');
      const percentiles = (from: Map<number, number>) => {
        const sorted = updates
          .map((e) => e.receivedAt - from.get(e.data.values!.trips as number)!)
          .sort((a, b) => a - b);
        return [0.5, 0.99].map((q) => sorted[Math.floor(sorted.length * q)]!);
      };
      const [p50, p99] = percentiles(sentAt);
      const [ackP50, ackP99] = percentiles(ackedAt);
      console.log(
        `append → subscriber at ${rate.toFixed(0)} rows/s: p50 ${p50!.toFixed(1)} ms, p99 ${p99!.toFixed(1)} ms ` +
          `(from the append's ack: p50 ${ackP50!.toFixed(1)} ms, p99 ${ackP99!.toFixed(1)} ms)`,
      );
      // The 100 ms target is reported above; the test fails on stalls, which a loaded CI box does not excuse.
      assert.ok(p99! < 1_000, `p99 ${p99!.toFixed(1)} ms`);
    } finally {
      response.destroy();
    }
  });

  async function kafkaAppendOnly(rows: Array<Record<string, FeatureValue>>): Promise<void> {
    const { topic, schemaId, type } = encoders.get('driver_stats')!;
    await kafka.append(
      topic,
      rows.map((row) => ({
        key: Buffer.from(`driver_id=${row.driver_id as number}`),
        value: encodeRow(schemaId, type, row),
      })),
    );
  }

  it('tells a subscriber that stops reading (resync with the reason), then sends a fresh snapshot with the latest value', async () => {
    const response = await open(
      `${serving.url}/subscribe?features=customer_profile:name&entities=${encodeURIComponent('{"customer_id":["slow"]}')}`,
    );
    response.pause();
    const big = 'x'.repeat(100_000);
    const count = 300;
    // Five rows of 100 kB per append: Kafka refuses requests over 1 MB.
    for (let i = 0; i < count; i += 5) {
      await produce(
        'customer_profile',
        Array.from({ length: 5 }, (_, j) => ({
          customer_id: 'slow',
          event_timestamp: Date.now() * 1_000 + i + j,
          created_timestamp: null,
          name: `${i + j}:${big}`,
        })),
      );
    }
    const events = collect(response);
    response.resume();
    await waitFor(
      () =>
        events.some(
          (e) =>
            e.data.values?.name === `${count - 1}:${big}` || e.data.rows?.[0]?.values?.name === `${count - 1}:${big}`,
        ),
      {
        timeoutMs: 30_000,
        description: 'the last value',
      },
    );
    const kinds = events.map((e) => e.event);
    const resync = kinds.indexOf('resync');
    assert.ok(resync > 0, `a resync event among ${kinds.length} events`);
    assert.match(events[resync]!.data.reason!, /maxQueuedEvents = 50/);
    assert.equal(kinds[resync + 1], 'snapshot');
    assert.ok(kinds.filter((k) => k === 'update').length < count, 'updates were dropped, and said so');
    response.destroy();
  });

  it('refuses a bad subscription with a 4xx before streaming', async () => {
    const bad = await fetch(
      `${serving.url}/subscribe?features=driver_stats:nope&entities=${encodeURIComponent('{"driver_id":[1]}')}`,
    );
    assert.equal(bad.status, 404);
    assert.match(((await bad.json()) as { message: string }).message, /"nope"/);
    const noEntities = await fetch(`${serving.url}/subscribe?feature_service=ranking`);
    assert.equal(noEntities.status, 400);
  });
});
