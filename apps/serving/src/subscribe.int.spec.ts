import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
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
import { materializerCheckpointName } from '@featurelog/serving';
import { stackEnv, uniqueName, waitFor } from '@featurelog/testing';
import { collectSse, openSse, startServing, type ServingUnderTest, type SseEvent } from './serving.test-kit';

const { kafkaBrokers: brokers, schemaRegistryUrl: registryUrl } = stackEnv();

type SubscribeEvent = SseEvent<{
  rows?: Array<{ entity_key: string; status: string; values: Record<string, unknown> | null }>;
  entity_key?: string;
  values?: Record<string, unknown>;
  version?: { offset: number };
  reason?: string;
  feature_names?: string[];
  code?: string;
  message?: string;
  retriable?: boolean;
}>;

const collect = (response: IncomingMessage) => collectSse<SubscribeEvent['data']>(response);

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

  /**
   * Appends rows to the view's topic, then materializes them into Redis as the materializer would
   * (with its checkpoint), unless `materialize` is false: the materializer is then behind.
   */
  async function produce(
    viewName: string,
    rows: Array<Record<string, FeatureValue>>,
    { materialize = true }: { materialize?: boolean } = {},
  ): Promise<void> {
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
    if (!materialize) return;
    const next = new Map<number, number>();
    for (const { partition, offset } of positions) next.set(partition, Math.max(next.get(partition) ?? 0, offset + 1));
    await serving.store.writeBatch({
      rows: rows.map((row, i) => ({
        project: serving.project,
        entityKey: keys[i]!,
        view: view.name,
        version: { eventTimestamp: row.event_timestamp as number, createdTimestamp: null, position: positions[i]! },
        features: Object.fromEntries(view.features.map((f) => [f.name, row[f.name] ?? null])),
      })),
      checkpoint: {
        consumer: materializerCheckpointName(serving.project),
        offsets: [...next].map(([partition, nextOffset]) => ({ topic, partition, nextOffset })),
      },
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
    const response = await openSse(
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
    await waitFor(() => events.some((e) => e.data.values?.trips === 20), { description: 'the update trips=20' });
    assert.ok(events.slice(1).every((e) => e.event === 'update'));
    // Order holds per entity (one partition each); across partitions it is not defined.
    const updatesOf = (key: string) => events.filter((e) => e.data.entity_key === key).map((e) => e.data.values?.trips);
    assert.deepEqual(updatesOf('driver_id=1'), [2, 3]);
    assert.deepEqual(updatesOf('driver_id=2'), [20]);
    assert.equal(events.length, 4, 'nothing of driver 3, nothing older than what was sent');
    response.destroy();
  });

  it('tells a subscriber that stops reading (resync with the reason), then sends a fresh snapshot with the latest value', async () => {
    const response = await openSse(
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

  it('sends rows appended before it began that the materializer had not written yet (starts from its checkpoint)', async () => {
    const id = 500;
    await produce('driver_stats', [driverRow(id, 1)]);
    // The materializer is behind: these rows are in the log, not in Redis, when the snapshot is read.
    await produce('driver_stats', [driverRow(id, 2), driverRow(id, 3)], { materialize: false });
    const response = await openSse(
      `${serving.url}/subscribe?features=driver_stats:trips&entities=${encodeURIComponent(`{"driver_id":[${id}]}`)}`,
    );
    const events = collect(response);
    try {
      await waitFor(() => events.some((e) => e.data.values?.trips === 3), { description: 'the unmaterialized row 3' });
      assert.equal(events[0]!.event, 'snapshot');
      assert.equal(events[0]!.data.rows![0]!.values!.trips, 1);
      // Rows that arrive while the snapshot is read are resolved to the newest one per entity.
      assert.deepEqual(
        events.slice(1).map((e) => [e.event, e.data.values?.trips]),
        [['update', 3]],
      );
    } finally {
      response.destroy();
    }
  });

  it('decodes a view over an existing topic that an app produces with its own schema', async () => {
    const topic = uniqueName('app.trips').replace(/[^a-zA-Z0-9._-]/g, '-');
    await kafka.ensureTopic({ name: topic, partitions: 1, config: {} });
    const appSchema = {
      type: 'record' as const,
      name: 'Trip',
      namespace: 'app',
      fields: [
        { name: 'driver', type: 'long' },
        { name: 'amount', type: 'double' },
        { name: 'ended_at', type: { type: 'long', logicalType: 'timestamp-millis' } },
      ],
    };
    const schemaId = await schemas.register(`${topic}-value`, appSchema);
    await serving.apply([
      {
        kind: 'data_source',
        definition: {
          name: 'app_trips',
          kind: 'kafka',
          topic,
          timestampField: 'ended_at',
          fieldMapping: { driver: 'driver_id', amount: 'fare' },
        },
      },
      {
        kind: 'feature_view',
        definition: {
          name: 'trip_stats',
          version: 1,
          entities: ['driver'],
          source: 'app_trips',
          ttlSeconds: 0,
          online: true,
          offline: true,
          features: [{ name: 'fare', type: 'float64' }],
        },
      },
    ]);
    const response = await openSse(
      `${serving.url}/subscribe?features=trip_stats:fare&entities=${encodeURIComponent('{"driver_id":[77]}')}`,
    );
    const events = collect(response);
    try {
      await waitFor(() => events.length >= 1, { description: 'snapshot' });
      assert.equal(events[0]!.data.rows![0]!.status, 'NOT_FOUND');
      const endedAt = Date.now();
      await kafka.append(topic, [
        { key: null, value: encodeRow(schemaId, avroType(appSchema), { driver: 77, amount: 9.5, ended_at: endedAt }) },
      ]);
      await waitFor(() => events.length >= 2, { description: 'the mapped update' });
      assert.equal(events[1]!.event, 'update');
      assert.equal(events[1]!.data.entity_key, 'driver_id=77');
      assert.deepEqual(events[1]!.data.values, { fare: 9.5 });
    } finally {
      response.destroy();
    }
  });

  it('re-plans on a registry change of a view it reads, and ends with a non-retriable error when the view is deleted', async () => {
    const state = serving.follower.state;
    const view = requireDefinition(state, 'feature_view', 'driver_customer');
    await kafka.ensureTopic({ name: topicNames.features(serving.project, view), partitions: 1, config: {} });
    const response = await openSse(
      `${serving.url}/subscribe?features=driver_customer:*&entities=${encodeURIComponent('{"driver_id":[1],"customer_id":["c"]}')}`,
    );
    const events = collect(response);
    try {
      await waitFor(() => events.length >= 1, { description: 'snapshot' });
      assert.deepEqual(events[0]!.data.feature_names, ['rides_together', 'trips']);
      await serving.apply([
        { kind: 'feature_view', definition: { ...view, features: [{ name: 'rides_together', type: 'int32' }] } },
      ]);
      await waitFor(() => events.length >= 3, { description: 'resync and the new snapshot' });
      assert.deepEqual(
        events.map((e) => e.event),
        ['snapshot', 'resync', 'snapshot'],
      );
      assert.equal(events[1]!.data.reason, 'registry changed');
      assert.deepEqual(events[2]!.data.feature_names, ['rides_together']);
      await serving.applyChanges([
        { op: 'delete', kind: 'feature_service', name: 'ranking' },
        { op: 'delete', kind: 'feature_view', name: 'driver_customer' },
      ]);
      await waitFor(() => response.readableEnded || response.destroyed, { description: 'the stream ended' });
      const last = events.at(-1)!;
      assert.equal(last.event, 'error');
      assert.equal(last.data.code, 'UNKNOWN_FEATURE_VIEW');
      assert.equal(last.data.retriable, false);
    } finally {
      response.destroy();
    }
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
