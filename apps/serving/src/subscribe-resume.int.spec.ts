import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IncomingMessage } from 'node:http';
import {
  avroType,
  ConfluentSchemaRegistry,
  encodeRow,
  LocalSchemaRegistry,
  rowSchemaFor,
  type SchemaRegistryPort,
} from '@featurelog/avro';
import { encodeEntityKey, requireDefinition, topicNames, valueSubject, type FeatureValue } from '@featurelog/domain';
import { FileEventLog, KafkaEventLog, type EventLog } from '@featurelog/log';
import { materializerCheckpointName } from '@featurelog/serving';
import { stackEnv, waitFor } from '@featurelog/testing';
import { collectSse, openSse, startServing, type ServingUnderTest, type SseEvent } from './serving.test-kit';

type SubscribeEvent = SseEvent<{
  rows?: Array<{ entity_key: string; values: Record<string, unknown> | null }>;
  entity_key?: string;
  values?: Record<string, unknown>;
  reason?: string;
}>;

const collect = (response: IncomingMessage) => collectSse<SubscribeEvent['data']>(response);

/** The id a client holds after these events (an event without `id:` keeps the previous one). */
const lastId = (events: readonly SubscribeEvent[]) => events.reduce<string>((id, e) => e.id ?? id, '');

/**
 * Reconnecting with Last-Event-ID: exactly the updates missed, on one log adapter. The online store
 * is Redis (the serving test kit's); the log and schema registry are the adapter's.
 */
function resumeSuite(
  name: string,
  /** The adapter's log and registry (closed by the suite), and what else to clean up after them. */
  makeLog: () => Promise<{ log: EventLog; schemas: SchemaRegistryPort; cleanUp?(): Promise<void> }>,
) {
  describe(`GET /subscribe resumes from Last-Event-ID (${name})`, () => {
    let serving: ServingUnderTest;
    let made: Awaited<ReturnType<typeof makeLog>>;
    let topic: string;
    let encode: (row: Record<string, FeatureValue>) => Buffer;

    before(async () => {
      made = await makeLog();
      serving = await startServing({ log: made.log, schemaRegistry: made.schemas });
      const state = serving.follower.state;
      const view = requireDefinition(state, 'feature_view', 'driver_stats');
      const entities = view.entities.map((entity) => requireDefinition(state, 'entity', entity));
      topic = topicNames.features(serving.project, view);
      await made.log.ensureTopic({ name: topic, partitions: 2, config: {} });
      const schema = rowSchemaFor(view, entities, serving.project);
      const schemaId = await made.schemas.register(valueSubject(topic), schema);
      const type = avroType(schema);
      encode = (row) => encodeRow(schemaId, type, row);
    });
    after(async () => {
      await serving.close();
      await made.log.close();
      await made.schemas.close();
      await made.cleanUp?.();
    });

    const joinKeys = [{ name: 'driver_id', type: 'int64' as const }];
    let clock = Date.now() * 1_000;
    const driverRow = (driverId: number, trips: number, eventTimestamp = ++clock) => ({
      driver_id: driverId,
      event_timestamp: eventTimestamp,
      created_timestamp: null,
      conv_rate: 0.5,
      acc_rate: 0.5,
      trips,
    });

    /** Appends, then materializes into Redis with the checkpoint, as the materializer would. */
    async function produce(rows: Array<Record<string, FeatureValue>>): Promise<void> {
      const keys = rows.map((row) => encodeEntityKey(joinKeys, row));
      const positions = await made.log.append(
        topic,
        rows.map((row, i) => ({ key: Buffer.from(keys[i]!), value: encode(row) })),
      );
      const next = new Map<number, number>();
      for (const { partition, offset } of positions)
        next.set(partition, Math.max(next.get(partition) ?? 0, offset + 1));
      await serving.store.writeBatch({
        rows: rows.map((row, i) => ({
          project: serving.project,
          entityKey: keys[i]!,
          view: 'driver_stats',
          version: { eventTimestamp: row.event_timestamp as number, createdTimestamp: null, position: positions[i]! },
          features: { conv_rate: 0.5, acc_rate: 0.5, trips: row.trips ?? null },
        })),
        checkpoint: {
          consumer: materializerCheckpointName(serving.project),
          offsets: [...next].map(([partition, nextOffset]) => ({ topic, partition, nextOffset })),
        },
      });
    }

    const url = (drivers: number[]) =>
      `${serving.url}/subscribe?features=driver_stats:trips&entities=${encodeURIComponent(JSON.stringify({ driver_id: drivers }))}`;
    const trips = (events: readonly SubscribeEvent[]) =>
      events.filter((e) => e.event === 'update').map((e) => [e.data.entity_key, e.data.values?.trips]);

    it('sends exactly the changes missed while away (none lost, none repeated), then the live ones', async () => {
      await produce([driverRow(11, 1), driverRow(12, 1)]);
      const first = await openSse(url([11, 12]));
      const before = collect(first);
      await waitFor(() => before.some((e) => e.event === 'snapshot'), { description: 'snapshot' });
      await produce([driverRow(11, 2), driverRow(12, 20)]);
      await waitFor(() => trips(before).length === 2, { description: 'two updates' });
      const id = lastId(before);
      assert.match(
        id,
        new RegExp(`^${topic.replace(/\./g, '\\.')}:0=\\d+,1=\\d+$`),
        'the id is where the stream stands',
      );
      assert.ok(
        before.every((e) => e.id !== undefined),
        'every event carries an id line',
      );
      first.destroy();

      // While away: changes of both drivers, one of a driver it does not read, and a row older than
      // one the subscriber will hold (it loses last-write-wins: never sent).
      await produce([driverRow(11, 3), driverRow(13, 30), driverRow(12, 21)]);
      await produce([driverRow(11, 4)]);
      await produce([driverRow(11, -1, clock - 1_000_000)]);

      const second = await openSse(url([11, 12]), id);
      assert.equal(second.statusCode, 200);
      const after = collect(second);
      await waitFor(() => trips(after).length >= 3, { description: 'the missed updates' });
      // A live row after the missed ones: once it is here, every missed one was sent.
      await produce([driverRow(12, 22)]);
      await waitFor(() => trips(after).some(([, value]) => value === 22), { description: 'the live update' });
      assert.ok(!after.some((e) => e.event === 'snapshot' || e.event === 'reset'), 'no snapshot on a resume');
      const of = (key: string) =>
        trips(after)
          .filter(([entity]) => entity === key)
          .map(([, value]) => value);
      assert.deepEqual(of('driver_id=11'), [3, 4]);
      assert.deepEqual(of('driver_id=12'), [21, 22]);
      assert.equal(trips(after).length, 4);
      const resumedId = lastId(after);
      assert.notEqual(resumedId, id);

      // Resuming again from the resumed stream's id: nothing was missed, nothing comes again.
      second.destroy();
      const third = await openSse(url([11, 12]), resumedId);
      const again = collect(third);
      await produce([driverRow(11, 5)]);
      await waitFor(() => trips(again).length >= 1, { description: 'the next live update' });
      assert.deepEqual(trips(again), [['driver_id=11', 5]]);
      third.destroy();
    });

    it('sends reset and a fresh snapshot for an id it cannot serve', async () => {
      await produce([driverRow(21, 1)]);
      const cases: Array<[string, RegExp]> = [
        ['not-a-position', /not a stream position/],
        [`${topic}-other:0=1,1=1`, /this subscription reads/],
        [`${topic}:0=1`, /partitions 0, 1/],
        [`${topic}:0=99999999,1=0`, /ends at/],
      ];
      for (const [id, reason] of cases) {
        const response = await openSse(url([21]), id);
        assert.equal(response.statusCode, 200);
        const events = collect(response);
        await waitFor(() => events.some((e) => e.event === 'snapshot'), { description: `snapshot after ${id}` });
        assert.equal(events[0]!.event, 'reset');
        assert.match(events[0]!.data.reason!, reason);
        assert.equal(events[0]!.id, '', 'the reset clears the id');
        assert.equal(events[1]!.event, 'snapshot');
        assert.equal(events[1]!.data.rows![0]!.values!.trips, 1);
        assert.match(events[1]!.id ?? '', /^.+:0=\d+,1=\d+$/);
        response.destroy();
      }
    });
  });
}

resumeSuite('embedded file log', async () => {
  const directory = await mkdtemp(join(tmpdir(), 'resume-'));
  const log = await FileEventLog.open({ directory: join(directory, 'log'), fsync: 'never' });
  const schemas = await LocalSchemaRegistry.open({ directory: join(directory, 'schemas') });
  return {
    log,
    schemas,
    cleanUp: () => rm(directory, { recursive: true, force: true }),
  };
});

resumeSuite('Kafka', async () => {
  const { kafkaBrokers: brokers, schemaRegistryUrl: url } = stackEnv();
  const log = await KafkaEventLog.connect({ brokers, maxWaitTimeMs: 50, logLevel: 'ERROR' });
  const schemas = new ConfluentSchemaRegistry({ url });
  return { log, schemas };
});
