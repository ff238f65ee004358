/**
 * Proof that the local stack is the real thing: each service is exercised through the
 * client featurelog itself uses, on fresh names so runs never see each other's data.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import Redis from 'ioredis';
import { uniqueName, waitFor } from '@featurelog/testing';
import { stackEnv } from './stack-env';

const env = stackEnv();
const kafka = new Kafka({ clientId: 'stack-proof', brokers: env.kafkaBrokers, logLevel: logLevel.ERROR });

async function consumeValues(topic: string, count: number): Promise<string[]> {
  const values: string[] = [];
  const consumer: Consumer = kafka.consumer({ groupId: uniqueName('proof-group') });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void values.push(message.value?.toString() ?? '') });
    await waitFor(() => values.length >= count, { description: `${count} records on ${topic}`, timeoutMs: 30_000 });
  } finally {
    await consumer.disconnect();
  }
  return values;
}

describe('local stack', () => {
  it('Kafka: kafkajs produces and consumes on a fresh topic', async () => {
    const topic = uniqueName('proof-topic');
    const admin = kafka.admin();
    await admin.connect();
    try {
      assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true }), true);
    } finally {
      await admin.disconnect();
    }
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      await producer.send({ topic, acks: -1, messages: ['a', 'b', 'c'].map((value) => ({ key: value, value })) });
    } finally {
      await producer.disconnect();
    }
    assert.deepEqual((await consumeValues(topic, 3)).sort(), ['a', 'b', 'c']);
  });

  it('schema registry: an Avro schema registered through the Confluent client round-trips a record in the wire format', async () => {
    const registry = new SchemaRegistry({ host: env.schemaRegistryUrl });
    const subject = `${uniqueName('proof')}-value`;
    const schema = {
      type: 'record',
      name: 'DriverStats',
      namespace: 'featurelog.proof',
      fields: [
        { name: 'driver_id', type: 'long' },
        { name: 'conv_rate', type: ['null', 'double'], default: null },
      ],
    };
    const { id } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(schema) }, { subject });
    const encoded = await registry.encode(id, { driver_id: 1001, conv_rate: 0.5 });
    assert.equal(encoded[0], 0, 'magic byte');
    assert.equal(encoded.readInt32BE(1), id, 'schema id after the magic byte');
    assert.deepEqual({ ...(await registry.decode(encoded)) }, { driver_id: 1001, conv_rate: 0.5 });
    assert.equal(await registry.getLatestSchemaId(subject), id);
  });

  describe('Redis', () => {
    let redis: Redis;
    before(() => {
      redis = new Redis(env.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    });
    after(() => redis.quit());
    it('ioredis writes and reads a hash', async () => {
      const key = uniqueName('proof');
      await redis.hset(key, { conv_rate: '0.5', trips: '12' });
      assert.deepEqual(await redis.hgetall(key), { conv_rate: '0.5', trips: '12' });
      await redis.del(key);
    });
  });

  describe('Kafka Connect', () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'proof-connect-'));
    });
    after(() => rm(dir, { recursive: true, force: true }));

    it('lists the FileStream plugins and runs a FileStreamSource into a topic', async () => {
      const plugins = (await (await fetch(`${env.connectUrl}/connector-plugins`)).json()) as Array<{ class: string }>;
      const classes = plugins.map((plugin) => plugin.class);
      assert.ok(classes.includes('org.apache.kafka.connect.file.FileStreamSourceConnector'), classes.join(', '));
      assert.ok(classes.includes('org.apache.kafka.connect.file.FileStreamSinkConnector'), classes.join(', '));

      const file = join(dir, 'lines.txt');
      await writeFile(file, 'first line\nsecond line\n');
      const topic = uniqueName('proof-connect');
      const name = uniqueName('proof-source');
      const admin = kafka.admin();
      await admin.connect();
      try {
        await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
      } finally {
        await admin.disconnect();
      }
      const created = await fetch(`${env.connectUrl}/connectors`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          name,
          config: {
            'connector.class': 'org.apache.kafka.connect.file.FileStreamSourceConnector',
            'tasks.max': '1',
            file,
            topic,
            'key.converter': 'org.apache.kafka.connect.storage.StringConverter',
            'value.converter': 'org.apache.kafka.connect.storage.StringConverter',
          },
        }),
      });
      assert.equal(created.status, 201, await created.text());
      try {
        assert.deepEqual(await consumeValues(topic, 2), ['first line', 'second line']);
      } finally {
        await fetch(`${env.connectUrl}/connectors/${name}`, { method: 'DELETE' });
      }
    });
  });
});
