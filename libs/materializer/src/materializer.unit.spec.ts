import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PUSH_TO_HEADER, topicNames, valueSubject, type TaggedDefinition } from '@featurelog/domain';
import { avroType, encodeRow } from '@featurelog/avro';
import { DLQ_HEADERS, type LogRecord } from '@featurelog/log';
import { seededRandom, waitFor } from '@featurelog/testing';
import {
  customer,
  customersSource,
  customerView,
  debeziumJsonRecord,
  debeziumPayload,
  expectedFeatures,
  randomCustomerRow,
  type CustomerRow,
} from '@featurelog/view-rows/testing';
import {
  baseDefinitions,
  driver,
  foldTopic,
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
const row = statsRowsAround(now);

/** In process, on the embedded ports; each with a registry follower group of its own. */
function startEmbeddedMaterializer(test: TestProject): Promise<RunningMaterializer> {
  return startMaterializer(test, {
    registryGroup: `${test.project}.mat-registry.${Math.random()}`,
    wipeCheckIntervalMs: 50,
    registryPollMs: 200,
  });
}

/** The view's newest event time online, as the materializer's gauge reports it (epoch seconds). */
function newestEventSeconds(metrics: string, view = 'driver_stats'): number | undefined {
  const line = new RegExp(`^featurelog_materializer_newest_event_timestamp_seconds\\{view="${view}"\\} (\\S+)$`, 'm');
  const value = line.exec(metrics)?.[1];
  return value === undefined ? undefined : Number(value);
}

async function deadLetters(test: TestProject): Promise<LogRecord[]> {
  const topic = topicNames.dlq(test.project);
  const end = (await test.runtime.log.endOffsets(topic)).get(0) ?? 0;
  const out: LogRecord[] = [];
  if (end === 0) return out;
  for await (const records of test.runtime.log.read(topic, 0, 0, { untilOffset: end })) out.push(...records);
  return out;
}

describe('Materializer on the embedded ports', () => {
  let test: TestProject;

  before(async () => {
    test = await openTestProject('embedded');
    await test.apply(baseDefinitions());
  });

  after(async () => test.close());

  it('keeps the latest row per entity, exactly the fold of the log, and counts rows won and lost', async () => {
    await test.produce('driver_stats', [row(1, 10, 1), row(2, 10, 2), row(1, 30, 3), row(1, 20, 4)]);
    const running = await startEmbeddedMaterializer(test);
    try {
      await waitForStoreToEqualFold(test, { timeoutMs: 10_000 });
      const stored = await storedValues(await test.store(), test.project, 'driver_stats', ['driver_id=1']);
      assert.equal(stored.get('driver_id=1')?.features.trips, 3, 'the row with the greatest event time wins');
      const text = await running.registry.metrics();
      // Driver 1's rows arrive in one chunk: only its winner (trips 3) reaches the store, the other two
      // count as lost without a write; driver 2's row wins.
      assert.match(text, /featurelog_materializer_rows_total\{view="driver_stats",outcome="won"\} 2/);
      assert.match(text, /featurelog_materializer_rows_total\{view="driver_stats",outcome="lost"\} 2/);
      assert.match(text, /featurelog_materializer_freshness_seconds_count\{view="driver_stats"\} 2/);
      assert.match(text, /featurelog_materializer_lag_records\{topic="[^"]+",partition="\d"\} 0/);
      assert.equal(newestEventSeconds(text), (now + 30) / 1e6, 'the newest event time online is that of trips 3');
    } finally {
      await running.stop();
    }
  });

  it('breaks event-time ties by created timestamp (absent lowest), then by log position', async () => {
    const running = await startEmbeddedMaterializer(test);
    try {
      await test.produce('driver_stats', [
        row(10, 100, 1, { created_timestamp: now + 5 }),
        row(10, 100, 2, { created_timestamp: null }),
        row(10, 100, 3, { created_timestamp: now + 4 }),
        row(11, 100, 1),
        row(11, 100, 2),
      ]);
      await waitFor(
        async () => {
          const stored = await storedValues(await test.store(), test.project, 'driver_stats', [
            'driver_id=10',
            'driver_id=11',
          ]);
          return stored.get('driver_id=10')?.features.trips === 1 && stored.get('driver_id=11')?.features.trips === 2;
        },
        { description: 'created timestamp, then offset, to decide ties' },
      );
      await waitForStoreToEqualFold(test, { timeoutMs: 10_000 });
    } finally {
      await running.stop();
    }
  });

  it('leaves the store unchanged when the same offsets are delivered again', async () => {
    const store = await test.store();
    const checkpointName = `${test.project}.materializer`;
    const folded = await foldTopic(test, 'driver_stats');
    const before = await storedValues(store, test.project, 'driver_stats', folded.keys());
    // Rewind every partition to 0 but keep the store whole: everything is delivered again.
    await store.deleteCheckpoint(checkpointName, [test.topic('driver_stats')]);
    const running = await startEmbeddedMaterializer(test);
    try {
      await waitFor(async () => (await running.materializer.lag()).every((p) => p.lag === 0), {
        description: 'the rewound partitions to be consumed again',
      });
      const text = await running.registry.metrics();
      assert.doesNotMatch(text, /outcome="won"\} [1-9]/, 'no redelivered row wins');
      assert.match(text, /outcome="lost"\} [1-9]/);
      assert.deepEqual(await storedValues(store, test.project, 'driver_stats', folded.keys()), before);
    } finally {
      await running.stop();
    }
  });

  it('rebuilds a view whose checkpoint is past the end of its topic (the topic was created again)', async () => {
    const store = await test.store();
    const checkpointName = `${test.project}.materializer`;
    const topic = test.topic('driver_stats');
    const ends = await test.runtime.log.endOffsets(topic);
    // What the topic's previous life left: offsets past the end, and a row newer than any in the log.
    await store.writeBatch({
      rows: [
        {
          project: test.project,
          entityKey: 'driver_id=1',
          view: 'driver_stats',
          version: {
            eventTimestamp: now + 10 ** 12,
            createdTimestamp: null,
            position: { partition: 0, offset: 10 ** 6 },
          },
          features: { conv_rate: 0, trips: -1, city: 'gone' },
        },
      ],
      checkpoint: {
        consumer: checkpointName,
        offsets: [...ends].map(([partition, end]) => ({ topic, partition, nextOffset: end + 1_000 })),
      },
    });
    const running = await startEmbeddedMaterializer(test);
    try {
      await waitForStoreToEqualFold(test, {
        description: 'the rebuilt view to equal the fold of the new topic',
        timeoutMs: 10_000,
      });
      const checkpoint = await store.readCheckpoint(checkpointName);
      for (const { partition, nextOffset } of checkpoint.filter((entry) => entry.topic === topic)) {
        assert.ok(nextOffset <= ends.get(partition)!, `partition ${partition}: ${nextOffset} is within the topic`);
      }
      assert.match(
        await running.registry.metrics(),
        /featurelog_materializer_rebuilds_total\{reason="topic-recreated"\} 1/,
      );
    } finally {
      await running.stop();
    }
  });

  it('skips rows pushed with to=offline, keeps rows pushed with to=online, and checkpoints past both', async () => {
    const running = await startEmbeddedMaterializer(test);
    try {
      const pushedTo = (to: string) => ({ [PUSH_TO_HEADER]: to });
      await test.produce('driver_stats', [row(40, 10, 1), row(41, 10, 1)]);
      // Newer rows for the offline store only: the online values must stay those of trips 1.
      await test.produce('driver_stats', [row(40, 20, 2), row(41, 20, 2)], undefined, pushedTo('offline'));
      // The newest event of all, but offline only: it must not count as the newest online.
      await test.produce('driver_stats', [row(42, 50, 3)], undefined, pushedTo('offline'));
      await test.produce('driver_stats', [row(43, 10, 4)], undefined, pushedTo('online'));
      await test.produce('driver_stats', [row(41, 30, 5)], undefined, pushedTo('online_and_offline'));
      await waitFor(async () => (await running.materializer.lag()).every((p) => p.lag === 0), {
        description: 'every pushed row consumed',
      });
      const stored = await storedValues(await test.store(), test.project, 'driver_stats', [
        'driver_id=40',
        'driver_id=41',
        'driver_id=42',
        'driver_id=43',
      ]);
      assert.deepEqual(Object.fromEntries([...stored].map(([key, value]) => [key, value.features.trips])), {
        'driver_id=40': 1,
        'driver_id=41': 5,
        'driver_id=43': 4,
      });
      assert.match(
        await running.registry.metrics(),
        /featurelog_materializer_rows_total\{view="driver_stats",outcome="offline_only"\} 3/,
      );
      assert.equal(newestEventSeconds(await running.registry.metrics()), (now + 30) / 1e6);
      await waitForStoreToEqualFold(test, { timeoutMs: 10_000 });
    } finally {
      await running.stop();
    }
  });

  it('sends each kind of poison record to the DLQ with its reason and goes on with the good ones', async () => {
    const running = await startEmbeddedMaterializer(test);
    try {
      const topic = test.topic('driver_stats');
      const latest = await test.runtime.schemas.latestVersion(valueSubject(topic));
      const good = encodeRow(latest!.id, avroType(latest!.schema), row(20, 1, 1));
      // A schema whose `trips` is a string cannot be read as the view's long.
      const otherSubject = `${test.project}.unrelated-value`;
      const otherSchema = {
        type: 'record',
        name: 'driver_stats',
        fields: [
          { name: 'driver_id', type: 'long' },
          { name: 'event_timestamp', type: 'long' },
          { name: 'trips', type: 'string' },
        ],
      };
      const otherId = await test.runtime.schemas.register(otherSubject, otherSchema);
      const unresolvable = encodeRow(otherId, avroType(otherSchema), {
        driver_id: 21,
        event_timestamp: now,
        trips: 'x',
      });
      const wrongMagic = Buffer.from(good);
      wrongMagic[0] = 7;
      const unknownId = Buffer.from(good);
      unknownId.writeUInt32BE(987_654_321, 1);
      const truncated = good.subarray(0, good.length - 3);
      const impossible = encodeRow(latest!.id, avroType(latest!.schema), row(22, 1, 1, { event_timestamp: -5 }));
      const key = Buffer.from('driver_id=20');
      const [{ offset: first }] = (await test.runtime.log.append(topic, [
        { key, value: good, partition: 0 },
        { key, value: wrongMagic, partition: 0 },
        { key, value: unknownId, partition: 0 },
        { key, value: truncated, partition: 0 },
        { key, value: impossible, partition: 0 },
        { key, value: unresolvable, partition: 0 },
        { key, value: null, partition: 0 },
        { key, value: encodeRow(latest!.id, avroType(latest!.schema), row(23, 1, 7)), partition: 0 },
      ])) as unknown as [{ offset: number }];
      const letters = await waitFor(
        async () => {
          const found = await deadLetters(test);
          return found.length >= 6 ? found : undefined;
        },
        { description: 'six dead letters' },
      );
      assert.deepEqual(
        letters.map((letter) => letter.headers[DLQ_HEADERS.errorCode]!.toString()),
        [
          'WIRE_BAD_MAGIC',
          'SCHEMA_NOT_FOUND',
          'AVRO_DECODE_FAILED',
          'INVALID_TIMESTAMP',
          'AVRO_SCHEMA_UNRESOLVABLE',
          'RECORD_VALUE_MISSING',
        ],
      );
      assert.deepEqual(
        letters.map((letter) => letter.headers[DLQ_HEADERS.sourceOffset]!.toString()),
        [1, 2, 3, 4, 5, 6].map((i) => String(first + i)),
      );
      for (const letter of letters) {
        assert.equal(letter.headers[DLQ_HEADERS.sourceTopic]?.toString(), topic);
        assert.equal(letter.headers[DLQ_HEADERS.sourcePartition]?.toString(), '0');
        assert.ok(letter.headers[DLQ_HEADERS.errorReason]!.length > 0);
      }
      const stored = await waitFor(
        async () => {
          const values = await storedValues(await test.store(), test.project, 'driver_stats', [
            'driver_id=20',
            'driver_id=23',
          ]);
          return values.size === 2 ? values : undefined;
        },
        { description: 'the good records around the poison' },
      );
      assert.equal(stored.get('driver_id=23')?.features.trips, 7);
      await waitFor(async () => (await running.materializer.lag()).every((p) => p.lag === 0), {
        description: 'the checkpoint to move past the dead letters',
      });
      assert.match(
        await running.registry.metrics(),
        /featurelog_materializer_dead_letters_total\{topic="[^"]+",code="WIRE_BAD_MAGIC"\} 1/,
      );
    } finally {
      await running.stop();
    }
  });

  it('starts materializing a view applied while running, and removes a deleted one, without restart', async () => {
    const running = await startEmbeddedMaterializer(test);
    try {
      const added = statsView({ name: 'driver_live', features: [{ name: 'speed', type: 'float64' }] });
      await test.apply(baseDefinitions(statsView(), added));
      await test.produce('driver_live', [{ driver_id: 5, event_timestamp: now, created_timestamp: null, speed: 42.5 }]);
      await waitFor(
        async () => {
          const stored = await storedValues(await test.store(), test.project, 'driver_live', ['driver_id=5']);
          return stored.get('driver_id=5')?.features.speed === 42.5;
        },
        { description: 'the row of the view applied while running' },
      );
      assert.ok(running.materializer.topics().includes(test.topic('driver_live')));

      await test.apply(baseDefinitions(statsView()));
      await waitFor(
        async () => {
          const stored = await storedValues(await test.store(), test.project, 'driver_live', ['driver_id=5']);
          return stored.size === 0 && running.materializer.topics().length === 1;
        },
        { description: 'the deleted view to be removed from the store' },
      );
      const stats = await storedValues(await test.store(), test.project, 'driver_stats', ['driver_id=1']);
      assert.equal(stats.size, 1, 'other views keep their values');
    } finally {
      await running.stop();
    }
  });

  it('reads rows written with an older compatible schema through the current one', async () => {
    const old = await test.runtime.schemas.latestVersion(valueSubject(test.topic('driver_stats')));
    const widened = statsView({ features: [...statsView().features, { name: 'rating', type: 'float32' }] });
    await test.apply([
      { kind: 'entity', definition: driver },
      { kind: 'feature_view', definition: widened },
    ] as TaggedDefinition[]);
    const running = await startEmbeddedMaterializer(test);
    try {
      await test.runtime.log.append(test.topic('driver_stats'), [
        { key: Buffer.from('driver_id=30'), value: encodeRow(old!.id, avroType(old!.schema), row(30, 1, 9)) },
      ]);
      const stored = await waitFor(
        async () => {
          const values = await storedValues(await test.store(), test.project, 'driver_stats', ['driver_id=30']);
          return values.get('driver_id=30');
        },
        { description: 'the row written with the older schema' },
      );
      assert.deepEqual(stored.features, { conv_rate: 0.09, trips: 9, city: 'city-9', rating: null });
    } finally {
      await running.stop();
    }
  });
  it('materializes a Debezium source: upserts, deletes (NOT_FOUND, not resurrected), poison to the DLQ', async () => {
    const topic = `${test.project}.cdc.customers`;
    await test.runtime.log.ensureTopic({ name: topic, partitions: 1, config: {} });
    // Beside the driver views of the earlier tests (no prune).
    await test.applier.apply(
      [
        { kind: 'entity', definition: customer },
        { kind: 'data_source', definition: { ...customersSource('debezium'), topic } },
        { kind: 'feature_view', definition: customerView },
      ],
      { prune: false },
    );
    const random = seededRandom(31);
    const customerRow = (id: number, updatedMs: number): CustomerRow => ({
      ...randomCustomerRow(random, id),
      avatar: null,
      updatedMs,
    });
    const first = customerRow(1, 1_740_823_300_000);
    const second = customerRow(2, 1_740_823_300_000);
    const snapshot = customerRow(4, 1_740_823_200_000);
    const later = customerRow(1, 1_740_823_400_000);
    const noAfter = JSON.parse(debeziumJsonRecord('u', customerRow(1, 1_740_823_350_000), 11).toString()) as {
      payload: { after: unknown };
    };
    noAfter.payload.after = null;
    const running = await startEmbeddedMaterializer(test);
    try {
      const third = customerRow(3, 1_740_823_310_000);
      const values = [
        debeziumJsonRecord('c', first, 10),
        Buffer.from(JSON.stringify(noAfter)),
        debeziumJsonRecord('c', second, 12),
        debeziumJsonRecord('c', third, 13),
        debeziumJsonRecord('d', customerRow(3, 1_740_823_360_000), 14),
        null, // the tombstone after the delete
        debeziumJsonRecord('r', snapshot, 15),
        Buffer.from(JSON.stringify(debeziumPayload('u', later, 16))), // schemas.enable=false
        debeziumJsonRecord('u', later, 17),
        debeziumJsonRecord('c', third, 13), // redelivered after a connector restart: older than the delete
      ];
      const [{ offset: start }] = (await test.runtime.log.append(
        topic,
        values.map((value, i) => ({ key: Buffer.from(`{"id":${i}}`), value, partition: 0 })),
      )) as unknown as [{ offset: number }];
      const keys = ['customer_id=1', 'customer_id=2', 'customer_id=3', 'customer_id=4'];
      const stored = await waitFor(
        async () => {
          const found = await storedValues(await test.store(), test.project, customerView.name, keys);
          return found.get('customer_id=1')?.version.eventTimestamp === later.updatedMs * 1000 && found.size === 3
            ? found
            : undefined;
        },
        { description: 'the good change events around the poison' },
      );
      for (const [key, expected] of [
        ['customer_id=1', later],
        ['customer_id=2', second],
        ['customer_id=4', snapshot],
      ] as const) {
        assert.deepEqual(stored.get(key)?.features, expectedFeatures(expected), key);
        // The event time is the commit time in PostgreSQL (source.ts_ms), not when Debezium read it.
        assert.equal(stored.get(key)?.version.eventTimestamp, expected.updatedMs * 1000, key);
      }
      await waitFor(async () => (await running.materializer.lag()).every((p) => p.lag === 0), {
        description: 'the checkpoint to move past the dead letters and the tombstone',
      });
      const deleted = await storedValues(await test.store(), test.project, customerView.name, ['customer_id=3']);
      assert.equal(deleted.size, 0, 'deleted, and not brought back by the older replay');
      const letters = (await deadLetters(test)).filter(
        (letter) => letter.headers[DLQ_HEADERS.sourceTopic]?.toString() === topic,
      );
      assert.deepEqual(
        letters.map((letter) => [
          letter.headers[DLQ_HEADERS.errorCode]!.toString(),
          Number(letter.headers[DLQ_HEADERS.sourceOffset]!.toString()) - start,
        ]),
        [
          ['DEBEZIUM_AFTER_MISSING', 1],
          ['CONNECT_SCHEMA_MISSING', 7],
        ],
      );
      assert.match(letters[0]!.headers[DLQ_HEADERS.errorReason]!.toString(), /has no "after"/);
    } finally {
      await running.stop();
    }
  });
});
