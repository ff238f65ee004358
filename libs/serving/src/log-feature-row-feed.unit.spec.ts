import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { avroType, encodeRow, LocalSchemaRegistry, rowSchemaFor, type AvroSchema } from '@featurelog/avro';
import { valueSubject, type TaggedDefinition } from '@featurelog/domain';
import { FileEventLog } from '@featurelog/log';
import type { TopicPartitionOffset } from '@featurelog/online-store';
import {
  LogFeatureRowFeed,
  ServingCatalog,
  type FeedListener,
  type FeedPosition,
  type FeedRow,
} from '@featurelog/serving';
import { registryOf, servingTestDefinitions } from '@featurelog/serving/testing';
import { seededRandom, waitFor } from '@featurelog/testing';
import {
  customer,
  customersSource,
  CUSTOMERS_TOPIC,
  customerView,
  debeziumJsonRecord,
  randomCustomerRow,
} from '@featurelog/view-rows/testing';

const PROJECT = 'feedtest';
const MS = 1_700_000_000_000;

/** A view over an existing topic that an app produces with its own schema. */
const tripDefinitions: TaggedDefinition[] = [
  {
    kind: 'data_source',
    definition: {
      name: 'app_trips',
      kind: 'kafka',
      topic: 'app.trips',
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
];

const appTripSchema: AvroSchema = {
  type: 'record',
  name: 'Trip',
  namespace: 'app',
  fields: [
    { name: 'driver', type: 'long' },
    { name: 'amount', type: 'double' },
    { name: 'ended_at', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'note', type: 'string' },
  ],
};

describe('LogFeatureRowFeed over the file log', () => {
  let directory: string;
  let log: FileEventLog;
  let schemas: LocalSchemaRegistry;
  let checkpoint: TopicPartitionOffset[] = [];
  const cdcDefinitions: TaggedDefinition[] = [
    { kind: 'entity', definition: customer },
    { kind: 'data_source', definition: customersSource('debezium') },
    { kind: 'feature_view', definition: customerView },
  ];
  const catalog = new ServingCatalog(
    PROJECT,
    registryOf([...servingTestDefinitions(), ...tripDefinitions, ...cdcDefinitions]),
  );
  const driverStats = catalog.view('driver_stats');
  const tripStats = catalog.view('trip_stats');
  let driverRow: (driverId: number, trips: number) => Buffer;
  let tripRow: (driver: number, amount: number) => Buffer;
  const feeds: LogFeatureRowFeed[] = [];
  const newFeed = (maxCatchUpRecords?: number) => {
    const feed = new LogFeatureRowFeed({
      log,
      schemas,
      project: PROJECT,
      store: { readCheckpoint: async () => checkpoint },
      maxCatchUpRecords,
    });
    feeds.push(feed);
    return feed;
  };
  const collector = () => {
    const rows: FeedRow[] = [];
    const failures: Error[] = [];
    const positions: FeedPosition[] = [];
    const listener: FeedListener = {
      rows: (batch, position) => {
        rows.push(...batch);
        if (position !== undefined) positions.push(position);
      },
      failed: (error) => failures.push(error),
    };
    return { rows, failures, positions, listener };
  };

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'feed-'));
    log = await FileEventLog.open({ directory: join(directory, 'log'), fsync: 'never' });
    schemas = await LocalSchemaRegistry.open({ directory: join(directory, 'schemas') });
    await log.ensureTopic({ name: driverStats.topic, partitions: 1, config: {} });
    await log.ensureTopic({ name: tripStats.topic, partitions: 1, config: {} });
    await log.ensureTopic({ name: CUSTOMERS_TOPIC, partitions: 1, config: {} });
    const rowSchema = rowSchemaFor(driverStats.definition, driverStats.entities, PROJECT);
    const rowId = await schemas.register(valueSubject(driverStats.topic), rowSchema);
    const rowType = avroType(rowSchema);
    driverRow = (driverId, trips) =>
      encodeRow(rowId, rowType, {
        driver_id: driverId,
        event_timestamp: MS * 1_000 + trips,
        created_timestamp: null,
        conv_rate: 0.5,
        acc_rate: 0.25,
        trips,
      });
    const tripId = await schemas.register(valueSubject(tripStats.topic), appTripSchema);
    const tripType = avroType(appTripSchema);
    tripRow = (driver, amount) => encodeRow(tripId, tripType, { driver, amount, ended_at: MS, note: 'n' });
  });
  after(async () => {
    for (const feed of feeds) await feed.close();
    await log.close();
    await schemas.close();
    await rm(directory, { recursive: true, force: true });
  });

  it('starts from the materializer checkpoint, so rows not yet in the online store still come, then live ones', async () => {
    const topic = driverStats.topic;
    await log.append(
      topic,
      [1, 2, 3, 4, 5].map((trips) => ({ key: Buffer.from('driver_id=1'), value: driverRow(1, trips) })),
    );
    checkpoint = [{ topic, partition: 0, nextOffset: 2 }];
    const feed = newFeed();
    const first = collector();
    const unfollow = await feed.follow(driverStats, first.listener);
    assert.deepEqual(
      first.rows.map((row) => row.version.position.offset),
      [2, 3, 4],
      'the rows after the checkpoint are delivered before follow resolves',
    );
    assert.deepEqual(first.rows[0], {
      view: 'driver_stats',
      entityKey: 'driver_id=1',
      version: { eventTimestamp: MS * 1_000 + 3, createdTimestamp: null, position: { partition: 0, offset: 2 } },
      row: { conv_rate: 0.5, acc_rate: 0.25, trips: 3 },
    });
    // A second follower of the same tail, with the materializer caught up: nothing to re-read.
    checkpoint = [{ topic, partition: 0, nextOffset: 5 }];
    const second = collector();
    const unfollowSecond = await feed.follow(driverStats, second.listener);
    assert.equal(second.rows.length, 0);
    await log.append(topic, [{ key: Buffer.from('driver_id=2'), value: driverRow(2, 6) }]);
    await waitFor(() => first.rows.length === 4 && second.rows.length === 1, { description: 'the live row, to both' });
    assert.equal(second.rows[0]!.entityKey, 'driver_id=2');
    unfollow();
    unfollowSecond();
  });

  it('without a checkpoint for the topic, starts at its end', async () => {
    checkpoint = [];
    const feed = newFeed();
    const seen = collector();
    const unfollow = await feed.follow(driverStats, seen.listener);
    assert.equal(seen.rows.length, 0);
    await log.append(driverStats.topic, [{ key: Buffer.from('driver_id=3'), value: driverRow(3, 7) }]);
    await waitFor(() => seen.rows.length === 1, { description: 'the live row' });
    unfollow();
  });

  it("decodes a view over an existing Kafka topic with the source's field mapping and timestamp field, skipping poison", async () => {
    checkpoint = [];
    const feed = newFeed();
    const seen = collector();
    const unfollow = await feed.follow(tripStats, seen.listener);
    await log.append(tripStats.topic, [
      { key: null, value: tripRow(7, 12.5) },
      { key: null, value: Buffer.from('not avro') },
      { key: null, value: tripRow(8, 3) },
    ]);
    await waitFor(() => seen.rows.length === 2, { description: 'the two decodable records' });
    assert.deepEqual(
      seen.rows.map((row) => [row.view, row.entityKey, row.row, row.version.eventTimestamp]),
      [
        ['trip_stats', 'driver_id=7', { fare: 12.5 }, MS * 1_000],
        ['trip_stats', 'driver_id=8', { fare: 3 }, MS * 1_000],
      ],
    );
    assert.deepEqual(seen.failures, []);
    unfollow();
  });

  it('sends a Debezium delete as a deleted row without values at its version (source position included), and nothing for its tombstone', async () => {
    checkpoint = [];
    const feed = newFeed();
    const seen = collector();
    const unfollow = await feed.follow(catalog.view(customerView.name), seen.listener);
    const created = { ...randomCustomerRow(seededRandom(9), 5), updatedMs: MS };
    await log.append(CUSTOMERS_TOPIC, [
      { key: null, value: debeziumJsonRecord('c', created, 1) },
      { key: null, value: debeziumJsonRecord('d', { ...created, updatedMs: MS + 1 }, 2) },
      { key: null, value: null },
    ]);
    await waitFor(() => seen.rows.length === 2, { description: 'the create and the delete' });
    assert.deepEqual(
      seen.rows.map((row) => [
        row.entityKey,
        row.row.plan,
        row.version.eventTimestamp,
        row.version.sourcePosition,
        row.deleted ?? false,
      ]),
      [
        ['customer_id=5', created.plan, MS * 1_000, '00000000000000000001', false],
        ['customer_id=5', null, (MS + 1) * 1_000, '00000000000000000002', true],
      ],
    );
    assert.ok(Object.values(seen.rows[1]!.row).every((value) => value === null));
    assert.deepEqual(seen.failures, []);
    unfollow();
  });

  it('refuses (retriable) to re-read more than maxCatchUpRecords when the materializer lags that far', async () => {
    checkpoint = [{ topic: driverStats.topic, partition: 0, nextOffset: 0 }];
    const feed = newFeed(3);
    await assert.rejects(feed.follow(driverStats, collector().listener), (error: Error & { retriable?: boolean }) => {
      assert.match(error.message, /records behind .*maxCatchUpRecords = 3/);
      assert.equal(error.retriable, true);
      return true;
    });
  });

  it('resumes a follower from its own position: each row once, in log order, saying where it stands', async () => {
    checkpoint = [];
    const topic = driverStats.topic;
    const feed = newFeed();
    const live = collector();
    const unfollowLive = await feed.follow(driverStats, live.listener);
    const appended = await log.append(topic, [{ key: Buffer.from('driver_id=4'), value: driverRow(4, 1) }]);
    const first = appended[0]!.offset;
    await log.append(
      topic,
      [2, 3, 4].map((trips) => ({ key: Buffer.from('driver_id=4'), value: driverRow(4, trips) })),
    );
    await waitFor(() => live.rows.length === 4, { description: 'the tail has the rows' });
    const resumed = collector();
    const unfollow = await feed.follow(driverStats, resumed.listener, new Map([[0, first + 1]]));
    assert.deepEqual(
      resumed.rows.map((row) => row.row.trips),
      [2, 3, 4],
      'the rows from the position on, before follow resolves',
    );
    assert.deepEqual(resumed.positions.at(-1), { topic, partition: 0, nextOffset: first + 4 });
    await log.append(topic, [{ key: Buffer.from('driver_id=4'), value: driverRow(4, 5) }]);
    await waitFor(() => resumed.rows.length === 4, { description: 'the live row' });
    assert.deepEqual(
      resumed.rows.map((row) => row.version.position.offset),
      [first + 1, first + 2, first + 3, first + 4],
      'each once, in order',
    );
    assert.deepEqual(resumed.positions.at(-1), { topic, partition: 0, nextOffset: first + 5 });
    unfollow();
    unfollowLive();
  });

  it('refuses a position it cannot serve: other partitions, past the end, or too far behind', async () => {
    checkpoint = [];
    const feed = newFeed(2);
    const end = (await log.endOffsets(driverStats.topic)).get(0)!;
    const cases: Array<[Map<number, number>, RegExp]> = [
      [new Map([[1, 0]]), /partitions 0, the position names 1/],
      [
        new Map([
          [0, 0],
          [1, 0],
        ]),
        /partitions 0, the position names 0, 1/,
      ],
      [new Map([[0, end + 1]]), new RegExp(`ends at ${end}, the position is ${end + 1}`)],
      [new Map([[0, 0]]), /records behind .*maxCatchUpRecords = 2/],
    ];
    for (const [from, message] of cases) {
      await assert.rejects(feed.follow(driverStats, collector().listener, from), (error: Error & { code?: string }) => {
        assert.equal(error.code, 'RESUME_POSITION_UNAVAILABLE');
        assert.match(error.message, message);
        return true;
      });
    }
  });
});
