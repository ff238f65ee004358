import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FeaturelogError } from '@featurelog/domain';
import { uniqueName, waitFor } from '@featurelog/testing';
import { ConsumerRunner } from './consumer-runner';
import { DLQ_HEADERS, KafkaEventLog, type LogRecord } from '@featurelog/log';

const brokers = (process.env.FEATURELOG_KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const text = (value: string) => Buffer.from(value, 'utf8');

describe('ConsumerRunner on Kafka', () => {
  let log: KafkaEventLog;
  before(async () => {
    log = await KafkaEventLog.connect({ brokers });
  });
  after(async () => {
    await log.close();
  });

  it('dead-letters poison to the DLQ topic and keeps consuming, retrying transient failures', async () => {
    const topic = uniqueName('demo.features.trips');
    const dlq = uniqueName('demo.dlq');
    await log.ensureTopic({ name: topic, partitions: 3, config: {} });
    await log.ensureTopic({ name: dlq, partitions: 1, config: {} });
    await log.append(topic, [
      { key: text('driver:1'), value: text('good') },
      { key: text('driver:2'), value: text('poison') },
      { key: text('driver:3'), value: text('good') },
    ]);
    const applied = new Set<string>();
    let transientFailures = 0;
    const runner = await ConsumerRunner.start({
      log,
      groupId: uniqueName('runner'),
      topics: [topic],
      dlqTopic: dlq,
      initialRetryMs: 10,
      handle: async ({ records }) => {
        if (transientFailures++ < 2) throw new FeaturelogError('ONLINE_STORE_UNAVAILABLE', 'down', { retriable: true });
        for (const record of records) {
          if (record.value?.toString() === 'poison') throw new FeaturelogError('ROW_INVALID', 'not a row');
          applied.add(record.key!.toString());
        }
      },
    });
    await waitFor(() => applied.size === 2, { timeoutMs: 30_000, description: 'the two good records' });
    const letters = await waitFor(
      async () => {
        const records: LogRecord[] = [];
        for await (const batch of log.read(dlq, 0, 0)) records.push(...batch);
        return records.length > 0 && records;
      },
      { timeoutMs: 30_000, description: 'a dead letter on Kafka' },
    );
    await runner.stop();
    assert.equal(letters.length, 1);
    assert.deepEqual(letters[0]?.key, text('driver:2'));
    assert.equal(letters[0]?.headers[DLQ_HEADERS.errorCode]?.toString(), 'ROW_INVALID');
    assert.equal(letters[0]?.headers[DLQ_HEADERS.sourceTopic]?.toString(), topic);
  });
});
