/**
 * The kafkajs internals the Kafka event log relies on (kafkajs-internals.adapter.ts), checked one by one
 * against the installed kafkajs without a broker: a kafkajs upgrade that moves any of them fails here, by
 * name, instead of in a read against a live cluster.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Kafka, logLevel } from 'kafkajs';
import { CREATE_CLUSTER_SYMBOL, createKafkaCluster, READ_COMMITTED } from './kafkajs-internals.adapter';

// kafkajs' own definitions of what the adapter restates; kafkajs has no `exports` map, so its files are reachable.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const isolationLevel = require('kafkajs/src/protocol/isolationLevel') as { READ_COMMITTED: number };
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Broker = require('kafkajs/src/broker') as { prototype: Record<string, unknown> };

const kafka = () => new Kafka({ clientId: 'internals-spec', brokers: ['127.0.0.1:1'], logLevel: logLevel.NOTHING });
const options = { allowAutoTopicCreation: false, isolationLevel: READ_COMMITTED, metadataMaxAge: 1000 };

describe('kafkajs internals the Kafka event log relies on', () => {
  it('a Kafka instance keeps its cluster-client factory under the private:Kafka:createCluster symbol', () => {
    const symbols = Object.getOwnPropertySymbols(kafka()).map((symbol) => symbol.description);
    assert.ok(symbols.includes(CREATE_CLUSTER_SYMBOL), `symbols are ${symbols.join(', ')}`);
  });

  it('the cluster client it creates has the methods reads use: connect, metadata, leaders, brokers', () => {
    const cluster = createKafkaCluster(kafka(), options);
    for (const method of [
      'connect',
      'disconnect',
      'refreshMetadata',
      'addTargetTopic',
      'findLeaderForPartitions',
      'findBroker',
    ]) {
      assert.equal(typeof (cluster as unknown as Record<string, unknown>)[method], 'function', method);
    }
  });

  it('a broker answers fetch requests, and READ_COMMITTED is kafkajs’ own isolation level value', () => {
    assert.equal(typeof Broker.prototype.fetch, 'function');
    assert.equal(READ_COMMITTED, isolationLevel.READ_COMMITTED);
  });

  it('an object without the factory is LOG_UNSUPPORTED, not a TypeError', () => {
    assert.throws(() => createKafkaCluster({} as Kafka, options), { code: 'LOG_UNSUPPORTED', retriable: false });
  });
});
