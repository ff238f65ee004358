import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { uniqueName, waitFor } from '@featurelog/testing';
import { type EventLog, type LogRecord, type RecordBatch, type SubscribeOptions } from './event-log.port';
import { partitionForKey } from './key-partitioner';

export interface EventLogContractOptions {
  /** How long to wait for a consumer to see records (a Kafka group join takes a moment). */
  deliveryTimeoutMs?: number;
  /** False for an adapter without consumer groups (the dev server's log bridge): their cases are skipped. */
  consumerGroups?: boolean;
}

/**
 * Keys and the partitions Kafka's Java client (and kafkajs' DefaultPartitioner) put them in, for 3
 * and 5 partitions. Fixed here, so a wrong hash fails even if both logs shared the mistake.
 */
export const KAFKA_PARTITIONER_FIXTURE = {
  keys: [
    '',
    'a',
    'ab',
    'abc',
    'abcd',
    'driver:1001',
    'driver:1002',
    'driver:1003',
    'customer:42',
    'é-unicode',
    'a much longer key that spans several words',
  ],
  partitionsOf3: [0, 1, 2, 0, 2, 2, 2, 0, 2, 0, 0],
  partitionsOf5: [1, 4, 4, 2, 0, 3, 2, 3, 0, 3, 0],
};

const text = (value: string) => Buffer.from(value, 'utf8');

/** The behaviour every EventLog adapter must have. Call from each adapter's spec file. */
export function eventLogContract(
  name: string,
  makeLog: () => Promise<EventLog>,
  { deliveryTimeoutMs = 30_000, consumerGroups = true }: EventLogContractOptions = {},
): void {
  describe(`EventLog contract: ${name}`, () => {
    const groupIt = consumerGroups ? it : it.skip;
    let log: EventLog;
    const topicName = (label: string) => uniqueName(`contract.${label}`).replace(/[^a-zA-Z0-9._-]/g, '-');
    const newTopic = async (label: string, partitions = 1) => {
      const topic = topicName(label);
      await log.ensureTopic({ name: topic, partitions, config: {} });
      return topic;
    };

    /** Subscribes and collects what is delivered, in delivery order. */
    const collect = async (options: Omit<SubscribeOptions, 'eachBatch'>) => {
      const received: LogRecord[] = [];
      const batches: RecordBatch[] = [];
      const subscription = await log.subscribe({
        ...options,
        eachBatch: async (batch) => {
          batches.push(batch);
          received.push(...batch.records);
        },
      });
      const waitForCount = (count: number, description: string) =>
        waitFor(() => received.length >= count, { timeoutMs: deliveryTimeoutMs, description });
      return { subscription, received, batches, waitForCount };
    };

    before(async () => {
      log = await makeLog();
    });
    after(async () => {
      await log.close();
    });

    it('ensureTopic creates once, then reports the existing topic without changing it', async () => {
      const topic = topicName('ensure');
      const config = { 'retention.ms': '-1', 'cleanup.policy': 'delete' };
      assert.deepEqual(await log.ensureTopic({ name: topic, partitions: 2, config }), {
        created: true,
        partitions: 2,
        fewerPartitionsThanRequested: false,
      });
      assert.deepEqual(await log.ensureTopic({ name: topic, partitions: 2, config }), {
        created: false,
        partitions: 2,
        fewerPartitionsThanRequested: false,
      });
      assert.deepEqual(await log.ensureTopic({ name: topic, partitions: 4, config }), {
        created: false,
        partitions: 2,
        fewerPartitionsThanRequested: true,
      });
      assert.equal(await log.partitionCount(topic), 2);
      const description = await log.describeTopic(topic);
      assert.equal(description?.partitions, 2);
      assert.equal(description?.config['retention.ms'], '-1');
      assert.equal(description?.config['cleanup.policy'], 'delete');
      assert.equal(await log.describeTopic(topicName('absent')), undefined);
      await assert.rejects(log.partitionCount(topicName('absent')), { code: 'LOG_TOPIC_NOT_FOUND' });
    });

    it('gives contiguous offsets per partition, in append order, and matching end offsets', async () => {
      const topic = await newTopic('offsets', 3);
      const records = (round: number) =>
        Array.from({ length: 30 }, (_, i) => ({ key: text(`key-${i % 7}`), value: text(`${round}:${i}`) }));
      const first = await log.append(topic, records(1));
      const second = await log.append(topic, records(2));
      const seen = new Map<number, number[]>();
      for (const { partition, offset } of [...first, ...second])
        seen.set(partition, [...(seen.get(partition) ?? []), offset]);
      const ends = await log.endOffsets(topic);
      assert.deepEqual([...ends.keys()].sort(), [0, 1, 2]);
      for (const [partition, offsets] of seen) {
        assert.deepEqual(
          offsets,
          offsets.map((_, i) => i),
          `partition ${partition} offsets`,
        );
        assert.equal(ends.get(partition), offsets.length);
      }
      // A key always lands in one partition.
      for (let i = 0; i < 30; i++) assert.equal(first[i]!.partition, second[i]!.partition);
    });

    it("partitions keys exactly as Kafka's default partitioner does", async () => {
      const { keys, partitionsOf3, partitionsOf5 } = KAFKA_PARTITIONER_FIXTURE;
      for (const [count, expected] of [
        [3, partitionsOf3],
        [5, partitionsOf5],
      ] as const) {
        const topic = await newTopic(`partitioner${count}`, count);
        const positions = await log.append(
          topic,
          keys.map((key) => ({ key: text(key), value: text('v') })),
        );
        assert.deepEqual(
          positions.map((position) => position.partition),
          expected,
        );
        assert.deepEqual(
          keys.map((key) => partitionForKey(text(key), count)),
          expected,
        );
      }
    });

    it('appends to an explicit partition and rejects one that does not exist', async () => {
      const topic = await newTopic('explicit', 3);
      const positions = await log.append(topic, [
        { key: text('x'), value: text('1'), partition: 1 },
        { key: null, value: text('2'), partition: 1 },
      ]);
      assert.deepEqual(positions, [
        { partition: 1, offset: 0 },
        { partition: 1, offset: 1 },
      ]);
      await assert.rejects(log.append(topic, [{ key: null, value: text('3'), partition: 7 }]));
    });

    it('lands concurrent appends in the order they were called', async () => {
      const topic = await newTopic('concurrent', 2);
      const calls = Array.from({ length: 20 }, (_, i) =>
        log.append(topic, [
          { key: text('same-entity'), value: text(`a${i}`) },
          { key: text('same-entity'), value: text(`b${i}`) },
        ]),
      );
      const positions = (await Promise.all(calls)).flat();
      const offsets = positions.map((position) => position.offset);
      assert.deepEqual(
        offsets,
        offsets.map((_, i) => offsets[0]! + i),
        'offsets follow call order',
      );
      const partition = positions[0]!.partition;
      const values: string[] = [];
      for await (const batch of log.read(topic, partition, 0)) values.push(...batch.map((r) => r.value!.toString()));
      assert.deepEqual(values, Array.from({ length: 20 }, (_, i) => [`a${i}`, `b${i}`]).flat());
    });

    it('reads a range in batches, stopping at untilOffset or the end', async () => {
      const topic = await newTopic('read');
      await log.append(
        topic,
        Array.from({ length: 10 }, (_, i) => ({ key: text('k'), value: text(String(i)) })),
      );
      const batchSizes: number[] = [];
      const values: string[] = [];
      for await (const batch of log.read(topic, 0, 2, { untilOffset: 7, maxBatch: 2 })) {
        assert.ok(batch.length <= 2);
        batchSizes.push(batch.length);
        for (const record of batch) {
          assert.equal(record.topic, topic);
          assert.equal(record.partition, 0);
          values.push(`${record.offset}=${record.value?.toString()}`);
        }
      }
      assert.deepEqual(values, ['2=2', '3=3', '4=4', '5=5', '6=6']);
      assert.equal(
        batchSizes.reduce((a, b) => a + b, 0),
        5,
      );
      const tail: number[] = [];
      for await (const batch of log.read(topic, 0, 8, { untilOffset: 1_000 })) tail.push(...batch.map((r) => r.offset));
      assert.deepEqual(tail, [8, 9]);
      for await (const batch of log.read(topic, 0, 10))
        assert.fail(`read past the end returned ${batch.length} records`);
    });

    it('round-trips headers, null keys, tombstones and append timestamps', async () => {
      const topic = await newTopic('headers');
      const before = Date.now();
      await log.append(topic, [
        {
          key: text('entity'),
          value: Buffer.from([0, 1, 2, 255]),
          headers: { 'featurelog.text': 'hé', 'featurelog.bytes': Buffer.from([0, 255]) },
        },
        { key: text('entity'), value: null },
        { key: null, value: text('keyless') },
      ]);
      const after = Date.now();
      const records: LogRecord[] = [];
      for await (const batch of log.read(topic, 0, 0)) records.push(...batch);
      assert.equal(records.length, 3);
      const [first, tombstone, keyless] = records as [LogRecord, LogRecord, LogRecord];
      assert.deepEqual(first.value, Buffer.from([0, 1, 2, 255]));
      assert.deepEqual(first.headers['featurelog.text'], text('hé'));
      assert.deepEqual(first.headers['featurelog.bytes'], Buffer.from([0, 255]));
      assert.deepEqual(tombstone.key, text('entity'));
      assert.equal(tombstone.value, null);
      assert.deepEqual(tombstone.headers, {});
      assert.equal(keyless.key, null);
      for (const record of records) {
        assert.ok(record.timestamp >= before - 1_000 && record.timestamp <= after + 1_000, `${record.timestamp}`);
      }
    });

    for (const commitInBackground of [false, true]) {
      groupIt(
        `resumes a consumer group from its committed offset after stop and restart${commitInBackground ? ', commits in the background' : ''}`,
        async () => {
          const topic = await newTopic('group', 2);
          const groupId = uniqueName('contract-group');
          const keys = ['a', 'b', 'c', 'd', 'e'];
          await log.append(
            topic,
            keys.map((key) => ({ key: text(key), value: text(`first-${key}`) })),
          );
          const first = await collect({ groupId, topics: [topic], fromBeginning: true, commitInBackground });
          await first.waitForCount(5, 'the first five records');
          await first.subscription.stop();
          await first.subscription.done;

          await log.append(
            topic,
            keys.slice(0, 3).map((key) => ({ key: text(key), value: text(`second-${key}`) })),
          );
          const second = await collect({ groupId, topics: [topic], fromBeginning: true, commitInBackground });
          await second.waitForCount(3, 'the three records appended while stopped');
          await log.append(topic, [{ key: text('a'), value: text('third-a') }]);
          await second.waitForCount(4, 'a record appended while consuming');
          await second.subscription.stop();
          assert.deepEqual(second.received.map((r) => r.value?.toString()).sort(), [
            'second-a',
            'second-b',
            'second-c',
            'third-a',
          ]);
          // Within a partition, delivery is in offset order.
          for (const partition of [0, 1]) {
            const offsets = [...first.received, ...second.received]
              .filter((r) => r.partition === partition)
              .map((r) => r.offset);
            assert.deepEqual(
              offsets,
              offsets.map((_, i) => i),
            );
          }
        },
      );
    }

    groupIt('starts from externally stored offsets when startOffsets gives one', async () => {
      const topic = await newTopic('start-offsets');
      const groupId = uniqueName('contract-start');
      await log.append(
        topic,
        Array.from({ length: 6 }, (_, i) => ({ key: text('k'), value: text(String(i)) })),
      );
      const first = await collect({ groupId, topics: [topic], fromBeginning: true });
      await first.waitForCount(6, 'all six records');
      await first.subscription.stop();

      // The group committed 6, but the projection's own checkpoint says 4.
      const second = await collect({
        groupId,
        topics: [topic],
        fromBeginning: true,
        startOffsets: (t, partition) => (t === topic && partition === 0 ? 4 : undefined),
      });
      await second.waitForCount(2, 'records from the stored checkpoint');
      await second.subscription.stop();
      assert.deepEqual(
        second.received.map((r) => r.offset),
        [4, 5],
      );
    });

    groupIt('adds and removes topics on a running subscription', async () => {
      const first = await newTopic('running-a');
      const groupId = uniqueName('contract-add');
      const consumer = await collect({ groupId, topics: [first], fromBeginning: true });
      await log.append(first, [{ key: text('k'), value: text('a1') }]);
      await consumer.waitForCount(1, 'a record of the first topic');

      const second = await newTopic('running-b');
      await log.append(second, [{ key: text('k'), value: text('b1') }]);
      await consumer.subscription.addTopics([second]);
      assert.deepEqual(consumer.subscription.topics().sort(), [first, second].sort());
      await consumer.waitForCount(2, 'a record of the added topic');
      await log.append(first, [{ key: text('k'), value: text('a2') }]);
      await consumer.waitForCount(3, 'the first topic still consumed');

      await consumer.subscription.removeTopics([first]);
      assert.deepEqual(consumer.subscription.topics(), [second]);
      await log.append(first, [{ key: text('k'), value: text('a3') }]);
      await log.append(second, [{ key: text('k'), value: text('b2') }]);
      await consumer.waitForCount(4, 'the remaining topic still consumed');
      await consumer.subscription.stop();
      assert.deepEqual(
        consumer.received.map((r) => r.value?.toString()),
        ['a1', 'b1', 'a2', 'b2'],
      );
    });

    groupIt('ends the subscription with the handler error and commits nothing of that batch', async () => {
      const topic = await newTopic('failing');
      const groupId = uniqueName('contract-fail');
      await log.append(topic, [{ key: text('k'), value: text('poison') }]);
      const failure = new Error('handler failed');
      const subscription = await log.subscribe({
        groupId,
        topics: [topic],
        fromBeginning: true,
        eachBatch: async () => {
          throw failure;
        },
      });
      await assert.rejects(subscription.done, (error) => error === failure);
      const again = await collect({ groupId, topics: [topic], fromBeginning: true });
      await again.waitForCount(1, 'the uncommitted record delivered again');
      await again.subscription.stop();
      assert.equal(again.received[0]?.offset, 0);
    });

    groupIt('refuses to subscribe to a topic that does not exist', async () => {
      await assert.rejects(
        log.subscribe({
          groupId: uniqueName('contract-missing'),
          topics: [topicName('missing')],
          fromBeginning: true,
          eachBatch: async () => undefined,
        }),
        { code: 'LOG_TOPIC_NOT_FOUND' },
      );
    });
  });
}
