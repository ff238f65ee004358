import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTopicDeclarations, topicSpecFor } from '@featurelog/log';

const topicsDirectory = join(__dirname, '..', '..', '..', 'topics');

describe('topic declarations', () => {
  it('declares every family with the configs of the architecture', async () => {
    const declarations = await loadTopicDeclarations(topicsDirectory);
    assert.deepEqual(topicSpecFor(declarations, 'registry', 'demo'), {
      name: 'demo.registry',
      partitions: 1,
      config: { 'cleanup.policy': 'delete', 'retention.ms': '-1', 'retention.bytes': '-1' },
    });
    const features = topicSpecFor(declarations, 'features', 'demo', 'driver_stats');
    assert.equal(features.name, 'demo.features.driver_stats');
    assert.equal(features.partitions, 3);
    assert.equal(features.config['retention.ms'], '-1');
    assert.equal(topicSpecFor(declarations, 'features', 'demo', 'driver_stats', { partitions: 8 }).partitions, 8);
    assert.equal(
      topicSpecFor(declarations, 'features', 'demo', { name: 'driver_stats', version: 2 }).name,
      'demo.features.driver_stats.v2',
    );
    assert.equal(topicSpecFor(declarations, 'segments', 'demo').config['retention.ms'], '-1');
    assert.equal(topicSpecFor(declarations, 'jobs', 'demo').config['retention.ms'], String(30 * 24 * 3600 * 1000));
    assert.deepEqual(topicSpecFor(declarations, 'dlq', 'demo'), {
      name: 'demo.dlq',
      partitions: 1,
      config: { 'cleanup.policy': 'delete', 'retention.ms': '2592000000' },
    });
    assert.throws(() => topicSpecFor(declarations, 'features', 'demo'), { code: 'TOPIC_SPEC_INVALID' });
    assert.throws(() => topicSpecFor(declarations, 'registry', 'demo', undefined, { partitions: 2 }), {
      code: 'TOPIC_SPEC_INVALID',
    });
  });

  it('refuses a declaration that is not valid, naming the file and the field', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'featurelog-topics-'));
    try {
      await writeFile(
        join(directory, 'registry.yaml'),
        'family: registry\nkey: k\npartitions: 1\nconfig:\n  retention.ms: -1\n',
      );
      await assert.rejects(
        loadTopicDeclarations(directory),
        /registry\.yaml: config retention\.ms must be a quoted string/,
      );
      await writeFile(join(directory, 'registry.yaml'), 'family: registry\nkey: k\npartitions: 1\nconfig: {}\n');
      await assert.rejects(loadTopicDeclarations(directory), { code: 'TOPIC_DECLARATION_MISSING' });
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});
