import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ConfigResourceTypes, Kafka, logLevel } from 'kafkajs';
import { uniqueName } from '@featurelog/testing';
import { KafkaEventLog, loadTopicDeclarations, TOPIC_FAMILIES, topicSpecFor } from '@featurelog/log';

const brokers = (process.env.FEATURELOG_KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');

describe('topic declarations on Kafka', () => {
  let log: KafkaEventLog;
  const admin = new Kafka({ brokers, logLevel: logLevel.ERROR }).admin();
  before(async () => {
    log = await KafkaEventLog.connect({ brokers });
    await admin.connect();
  });
  after(async () => {
    await admin.disconnect();
    await log.close();
  });

  it('provisions every family with the declared partitions and configs (describeConfigs)', async () => {
    const declarations = await loadTopicDeclarations(join(__dirname, '..', '..', '..', 'topics'));
    const project = uniqueName('proj').replace(/[^a-zA-Z0-9_-]/g, '_');
    for (const family of TOPIC_FAMILIES) {
      const spec = topicSpecFor(declarations, family, project, family === 'features' ? 'driver_stats' : undefined);
      assert.equal((await log.ensureTopic(spec)).created, true);
      const [metadata] = (await admin.fetchTopicMetadata({ topics: [spec.name] })).topics;
      assert.equal(metadata?.partitions.length, spec.partitions, `${spec.name} partitions`);
      const { resources } = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: ConfigResourceTypes.TOPIC, name: spec.name }],
      });
      const actual = Object.fromEntries(
        (resources[0]?.configEntries ?? []).map((entry) => [entry.configName, entry.configValue]),
      );
      for (const [name, value] of Object.entries(spec.config)) {
        assert.equal(actual[name], value, `${spec.name} ${name}`);
      }
    }
  });
});
