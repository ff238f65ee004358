import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FeaturelogError } from '@featurelog/domain';
import { uniqueName, waitFor } from '@featurelog/testing';
import { ConsumerRunner, type ConsumerRunnerOptions } from './consumer-runner';
import { DLQ_HEADERS, type EventLog, FileEventLog, type LogRecord } from '@featurelog/log';

const text = (value: string) => Buffer.from(value, 'utf8');

async function readTopic(log: EventLog, topic: string): Promise<LogRecord[]> {
  const records: LogRecord[] = [];
  for (const partition of (await log.endOffsets(topic)).keys()) {
    for await (const batch of log.read(topic, partition, 0)) records.push(...batch);
  }
  return records;
}

describe('ConsumerRunner on the file log', () => {
  let directory: string;
  let log: EventLog;
  let topic: string;
  let dlq: string;

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'featurelog-runner-'));
    log = await FileEventLog.open({ directory });
  });
  after(async () => {
    await log.close();
    await rm(directory, { recursive: true, force: true });
  });

  const freshTopics = async (partitions = 1) => {
    topic = uniqueName('demo.features.trips');
    dlq = uniqueName('demo.dlq');
    await log.ensureTopic({ name: topic, partitions, config: {} });
    await log.ensureTopic({ name: dlq, partitions: 1, config: {} });
  };

  /** A runner on the fresh topics, in a group of its own, sending poison to the DLQ. */
  const startRunner = (options: Omit<ConsumerRunnerOptions, 'log' | 'groupId' | 'topics' | 'dlqTopic'>) =>
    ConsumerRunner.start({ log, groupId: uniqueName('runner'), topics: [topic], dlqTopic: dlq, ...options });

  it('sends a record the handler throws on to the DLQ, with its bytes and why, and goes on', async () => {
    await freshTopics();
    await log.append(topic, [
      { key: text('k1'), value: text('good-1') },
      { key: text('k2'), value: Buffer.from([0xde, 0xad]), headers: { origin: 'backend' } },
      { key: text('k3'), value: text('good-2') },
    ]);
    const applied: string[] = [];
    const runner = await startRunner({
      handle: async ({ records }) => {
        for (const record of records) {
          if (!record.value?.toString().startsWith('good')) {
            throw new FeaturelogError('ROW_UNDECODABLE', `offset ${record.offset} is not a feature row`);
          }
          applied.push(record.value.toString());
        }
      },
    });
    await waitFor(async () => (await readTopic(log, dlq)).length === 1, { description: 'one dead letter' });
    await log.append(topic, [{ key: text('k4'), value: text('good-3') }]);
    await waitFor(() => applied.includes('good-3'), { description: 'processing to go on past the poison' });
    await runner.stop();

    const [letter] = await readTopic(log, dlq);
    assert.deepEqual(letter?.key, text('k2'));
    assert.deepEqual(letter?.value, Buffer.from([0xde, 0xad]));
    assert.equal(letter?.headers.origin?.toString(), 'backend');
    assert.equal(letter?.headers[DLQ_HEADERS.errorCode]?.toString(), 'ROW_UNDECODABLE');
    assert.equal(letter?.headers[DLQ_HEADERS.errorReason]?.toString(), 'offset 1 is not a feature row');
    assert.equal(letter?.headers[DLQ_HEADERS.sourceTopic]?.toString(), topic);
    assert.equal(letter?.headers[DLQ_HEADERS.sourcePartition]?.toString(), '0');
    assert.equal(letter?.headers[DLQ_HEADERS.sourceOffset]?.toString(), '1');
    // Good records of the poisoned batch were applied (again, when the batch was split).
    assert.deepEqual([...new Set(applied)], ['good-1', 'good-2', 'good-3']);
  });

  it('dead-letters the records a handler reports as poisoned, without redoing the batch', async () => {
    await freshTopics(2);
    const keys = ['a', 'b', 'c', 'd', 'e', 'f'];
    await log.append(
      topic,
      keys.map((key) => ({ key: text(key), value: key === 'c' ? null : text(key) })),
    );
    const seen: string[] = [];
    const poisonedSeen: string[] = [];
    const runner = await startRunner({
      onPoison: ({ record }) => poisonedSeen.push(record.key!.toString()),
      handle: async ({ records }) => {
        const poisoned = records
          .filter((record) => record.value === null)
          .map((record) => ({ record, error: new FeaturelogError('ROW_TOMBSTONE_UNEXPECTED', 'no value') }));
        seen.push(...records.filter((record) => record.value !== null).map((record) => record.key!.toString()));
        return { poisoned };
      },
    });
    await waitFor(() => seen.length === 5, { description: 'the five good records' });
    await waitFor(async () => (await readTopic(log, dlq)).length === 1, { description: 'one dead letter' });
    await runner.stop();
    assert.deepEqual(seen.sort(), ['a', 'b', 'd', 'e', 'f']);
    assert.deepEqual(poisonedSeen, ['c']);
    const [letter] = await readTopic(log, dlq);
    assert.equal(letter?.value, null);
    assert.equal(letter?.headers[DLQ_HEADERS.errorCode]?.toString(), 'ROW_TOMBSTONE_UNEXPECTED');
  });

  it('dead-letters a redelivered poison record once per consumer, across restarts', async () => {
    await freshTopics();
    await log.append(topic, [
      { key: text('k1'), value: text('good-1') },
      { key: text('k2'), value: text('poison') },
      { key: text('k3'), value: text('good-2') },
    ]);
    const run = async (consumer: string) => {
      const applied: string[] = [];
      const poisoned: number[] = [];
      const runner = await startRunner({
        // A new group each time (startRunner's) and no checkpoint: every record is delivered again, as after a crash.
        consumer,
        startOffsets: () => 0,
        onPoison: ({ record }) => poisoned.push(record.offset),
        handle: async ({ records }) => {
          for (const record of records) {
            if (record.value?.toString() === 'poison') throw new FeaturelogError('ROW_UNDECODABLE', 'poison');
            applied.push(record.value!.toString());
          }
        },
      });
      await waitFor(() => applied.includes('good-2') && poisoned.length === 1, { description: 'the batch done' });
      await runner.stop();
      return poisoned;
    };
    assert.deepEqual(await run('demo.materializer'), [1]);
    // Redelivered to the same consumer: told of it again (its checkpoint may move on), not dead-lettered again.
    assert.deepEqual(await run('demo.materializer'), [1]);
    await run('demo.compactor');
    const letters = await readTopic(log, dlq);
    assert.deepEqual(
      letters.map((letter) => [
        letter.headers[DLQ_HEADERS.consumer]?.toString(),
        letter.headers[DLQ_HEADERS.sourceOffset]?.toString(),
      ]),
      [
        ['demo.materializer', '1'],
        ['demo.compactor', '1'],
      ],
    );
  });

  it('retries retriable failures with doubling pauses and never dead-letters them', async () => {
    await freshTopics();
    await log.append(topic, [{ key: text('k'), value: text('v') }]);
    let calls = 0;
    const delays: number[] = [];
    const runner = await startRunner({
      initialRetryMs: 5,
      maxRetryMs: 20,
      onRetry: ({ delayMs }) => delays.push(delayMs),
      handle: async () => {
        calls++;
        if (calls <= 3) throw new FeaturelogError('ONLINE_STORE_UNAVAILABLE', 'redis down', { retriable: true });
        if (calls === 4) throw new TypeError('an unknown failure is retried too, not dead-lettered');
      },
    });
    await waitFor(() => calls === 5, { description: 'success on the fifth call' });
    await runner.stop();
    assert.deepEqual(delays, [5, 10, 20, 20]);
    assert.equal((await readTopic(log, dlq)).length, 0);
  });

  it('uses visible defaults of 100 ms doubling to at most 5 s', async () => {
    await freshTopics();
    await log.append(topic, [{ key: text('k'), value: text('v') }]);
    const delays: number[] = [];
    const runner = await startRunner({
      onRetry: ({ delayMs }) => delays.push(delayMs),
      handle: async () => {
        throw new FeaturelogError('LOG_UNAVAILABLE', 'down', { retriable: true });
      },
    });
    await waitFor(() => delays.length >= 2, { description: 'two retries' });
    // Stopping interrupts the pause in progress: no waiting out the backoff.
    const stopping = Date.now();
    await runner.stop();
    await runner.done;
    assert.ok(Date.now() - stopping < 150, 'stop interrupts the backoff');
    assert.deepEqual(delays.slice(0, 2), [100, 200]);
  });

  it('does not hold up other partitions while one partition has poison', async () => {
    await freshTopics(3);
    const good = ['driver:1001', 'driver:1002', 'driver:1003', 'customer:42'];
    await log.append(topic, [
      { key: text('bad'), value: text('poison'), partition: 0 },
      ...good.map((key) => ({ key: text(key), value: text('ok') })),
    ]);
    const applied = new Set<string>();
    const runner = await startRunner({
      handle: async ({ records }) => {
        for (const record of records) {
          if (record.value?.toString() === 'poison') throw new FeaturelogError('ROW_INVALID', 'bad row');
          applied.add(record.key!.toString());
        }
      },
    });
    await waitFor(() => applied.size === good.length, { description: 'all good records' });
    await waitFor(async () => (await readTopic(log, dlq)).length === 1, { description: 'the poison dead-lettered' });
    await runner.stop();
  });
});
