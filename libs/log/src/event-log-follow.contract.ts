import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { uniqueName, waitFor } from '@featurelog/testing';
import type { EventLog, LogRecord } from './event-log.port';

export interface EventLogFollowContractOptions {
  /** How long to wait for a follower to see records. */
  deliveryTimeoutMs?: number;
}

const text = (value: string) => Buffer.from(value, 'utf8');

/**
 * The behaviour of `EventLog.follow` (a group-less live tail) every adapter must have. Call from each
 * adapter's spec file, beside eventLogContract.
 */
export function eventLogFollowContract(
  name: string,
  makeLog: () => Promise<EventLog>,
  { deliveryTimeoutMs = 30_000 }: EventLogFollowContractOptions = {},
): void {
  describe(`EventLog follow contract: ${name}`, () => {
    let log: EventLog;
    const topicName = (label: string) => uniqueName(`follow.${label}`).replace(/[^a-zA-Z0-9._-]/g, '-');
    const newTopic = async (label: string, partitions = 1) => {
      const topic = topicName(label);
      await log.ensureTopic({ name: topic, partitions, config: {} });
      return topic;
    };
    const values = (records: readonly LogRecord[]) => records.map((record) => record.value?.toString());

    /** Follows in the background, collecting what arrives, until aborted. */
    const tail = (topic: string, partition: number, fromOffset: number, maxBatch?: number) => {
      const controller = new AbortController();
      const received: LogRecord[] = [];
      const batchSizes: number[] = [];
      const state = { ended: false };
      const done = (async () => {
        try {
          for await (const batch of log.follow(topic, partition, fromOffset, { signal: controller.signal, maxBatch })) {
            batchSizes.push(batch.length);
            received.push(...batch);
          }
        } finally {
          state.ended = true;
        }
      })();
      done.catch(() => undefined);
      const waitForCount = (count: number, description: string) =>
        waitFor(() => received.length >= count, { timeoutMs: deliveryTimeoutMs, description });
      return { controller, received, batchSizes, state, done, waitForCount };
    };

    before(async () => {
      log = await makeLog();
    });
    after(async () => {
      await log.close();
    });

    it('yields the records from the start offset, then each record as it is appended, in offset order', async () => {
      const topic = await newTopic('live');
      await log.append(
        topic,
        ['a', 'b', 'c'].map((value) => ({ key: text('k'), value: text(value) })),
      );
      const follower = tail(topic, 0, 1, 2);
      try {
        await follower.waitForCount(2, 'the records already there from offset 1');
        await log.append(topic, [{ key: text('k'), value: text('d') }]);
        await follower.waitForCount(3, 'a record appended while following');
        await log.append(
          topic,
          ['e', 'f', 'g', 'h', 'i'].map((value) => ({ key: text('k'), value: text(value) })),
        );
        await follower.waitForCount(8, 'five more records');
        assert.deepEqual(values(follower.received), ['b', 'c', 'd', 'e', 'f', 'g', 'h', 'i']);
        assert.deepEqual(
          follower.received.map((record) => record.offset),
          [1, 2, 3, 4, 5, 6, 7, 8],
        );
        assert.ok(
          follower.batchSizes.every((size) => size >= 1 && size <= 2),
          `batches ${follower.batchSizes.join(',')}`,
        );
        for (const record of follower.received) {
          assert.equal(record.topic, topic);
          assert.equal(record.partition, 0);
        }
      } finally {
        follower.controller.abort();
        await follower.done;
      }
    });

    it('from the end offset sees only what is appended later, and only of its partition', async () => {
      const topic = await newTopic('end', 2);
      await log.append(topic, [
        { key: null, value: text('old-0'), partition: 0 },
        { key: null, value: text('old-1'), partition: 1 },
      ]);
      const ends = await log.endOffsets(topic);
      const first = tail(topic, 1, ends.get(1)!);
      try {
        await log.append(topic, [
          { key: null, value: text('new-0'), partition: 0 },
          { key: null, value: text('new-1'), partition: 1 },
        ]);
        await first.waitForCount(1, 'the record appended to partition 1');
        await log.append(topic, [{ key: null, value: text('newer-1'), partition: 1 }]);
        await first.waitForCount(2, 'a second record of partition 1');
        assert.deepEqual(values(first.received), ['new-1', 'newer-1']);
      } finally {
        first.controller.abort();
        await first.done;
      }
    });

    it('feeds several followers of different topics at once (one idle follower holds up no other)', async () => {
      const idle = tail(await newTopic('idle'), 0, 0);
      const busyTopics = [await newTopic('busy-a'), await newTopic('busy-b')];
      const busy = busyTopics.map((topic) => tail(topic, 0, 0));
      try {
        for (let round = 0; round < 3; round++) {
          for (const topic of busyTopics) await log.append(topic, [{ key: null, value: text(`${round}`) }]);
          for (const follower of busy) await follower.waitForCount(round + 1, `round ${round} on every busy topic`);
        }
        assert.equal(idle.received.length, 0);
      } finally {
        for (const follower of [idle, ...busy]) follower.controller.abort();
        await Promise.all([idle, ...busy].map((follower) => follower.done));
      }
    });

    it('ends the iteration when aborted while waiting, and after abort yields nothing more', async () => {
      const topic = await newTopic('abort');
      const follower = tail(topic, 0, 0);
      await log.append(topic, [{ key: null, value: text('before') }]);
      await follower.waitForCount(1, 'the first record');
      follower.controller.abort();
      await waitFor(() => follower.state.ended, { timeoutMs: deliveryTimeoutMs, description: 'the iteration ended' });
      await follower.done;
      await log.append(topic, [{ key: null, value: text('after') }]);
      assert.deepEqual(values(follower.received), ['before']);
      // An already aborted signal yields nothing at all.
      const controller = new AbortController();
      controller.abort();
      for await (const batch of log.follow(topic, 0, 0, { signal: controller.signal })) {
        assert.fail(`an aborted follow yielded ${batch.length} records`);
      }
    });

    it('refuses an unknown topic, an unknown partition and a start past the end', async () => {
      const drain = async (topic: string, partition: number, offset: number) => {
        const controller = new AbortController();
        try {
          for await (const batch of log.follow(topic, partition, offset, { signal: controller.signal })) {
            assert.fail(`yielded ${batch.length} records`);
          }
        } finally {
          controller.abort();
        }
      };
      const topic = await newTopic('refuse');
      await log.append(topic, [{ key: null, value: text('x') }]);
      await assert.rejects(drain(topicName('absent'), 0, 0), { code: 'LOG_TOPIC_NOT_FOUND' });
      await assert.rejects(drain(topic, 3, 0), { code: 'LOG_PARTITION_INVALID' });
      await assert.rejects(drain(topic, 0, 5), { code: 'LOG_OFFSET_INVALID' });
      await assert.rejects(drain(topic, 0, -1), { code: 'LOG_OFFSET_INVALID' });
    });
  });
}
