import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { EntityDefinition, FeatureDefinition, FeatureViewDefinition } from '@featurelog/domain';
import { uniqueName } from '@featurelog/testing';
import { normalizedSchemaText } from './avro-type';
import { rowSchemaFor } from './row-schema';
import type { SchemaRegistryPort } from './schema-registry.port';

export interface SchemaRegistryFixture {
  registry: SchemaRegistryPort;
  /** A fresh instance over the same storage, as after a process restart (omit if the store is remote). */
  reopen?: () => Promise<SchemaRegistryPort>;
}

const driver: EntityDefinition = { name: 'driver', joinKeys: [{ name: 'driver_id', type: 'int64' }] };
const features: FeatureDefinition[] = [
  { name: 'conv_rate', type: 'float64' },
  { name: 'acc_rate', type: 'float64' },
];

function rowSchema(changed: FeatureDefinition[] = features) {
  const view: FeatureViewDefinition = {
    name: 'driver_stats',
    version: 1,
    entities: ['driver'],
    features: changed,
    ttlSeconds: 0,
    online: true,
    offline: true,
  };
  return rowSchemaFor(view, [driver], 'contract');
}

/**
 * What every SchemaRegistryPort adapter must do, run by each adapter's spec:
 * `schemaRegistryContract('local', async () => ({ registry, reopen }))`.
 * Subjects are unique per test, so the suite can run against a shared registry.
 */
export function schemaRegistryContract(name: string, makeFixture: () => Promise<SchemaRegistryFixture>): void {
  describe(`SchemaRegistryPort contract: ${name}`, () => {
    const opened: SchemaRegistryPort[] = [];
    const fixture = async () => {
      const made = await makeFixture();
      opened.push(made.registry);
      return made;
    };
    const subject = () => `${uniqueName('contract.features.driver_stats')}-value`;

    after(async () => {
      await Promise.all(opened.map((registry) => registry.close()));
    });

    it('registers idempotently: the same schema, as text or JSON, keeps its id and version', async () => {
      const { registry } = await fixture();
      const topicSubject = subject();
      const id = await registry.register(topicSubject, rowSchema());
      assert.equal(await registry.register(topicSubject, rowSchema()), id);
      assert.equal(await registry.register(topicSubject, JSON.stringify(rowSchema())), id);
      assert.equal((await registry.latestVersion(topicSubject))?.version, 1);
    });

    it('returns a schema by its id', async () => {
      const { registry } = await fixture();
      const id = await registry.register(subject(), rowSchema());
      assert.equal(normalizedSchemaText(await registry.getSchema(id)), normalizedSchemaText(rowSchema()));
      await assert.rejects(registry.getSchema(id + 1_000_000), { code: 'SCHEMA_NOT_FOUND' });
    });

    it('reports the latest version of a subject, and none for an unknown subject', async () => {
      const { registry } = await fixture();
      const topicSubject = subject();
      assert.equal(await registry.latestVersion(topicSubject), undefined);
      const first = await registry.register(topicSubject, rowSchema());
      const evolved = rowSchema([...features, { name: 'rating', type: 'float32' }]);
      const second = await registry.register(topicSubject, evolved);
      assert.notEqual(second, first);
      const latest = await registry.latestVersion(topicSubject);
      assert.equal(latest?.id, second);
      assert.equal(latest?.version, 2);
      assert.equal(normalizedSchemaText(latest.schema), normalizedSchemaText(evolved));
    });

    it('accepts adding a nullable feature with a default', async () => {
      const { registry } = await fixture();
      const topicSubject = subject();
      await registry.setCompatibility(topicSubject, 'BACKWARD');
      await registry.register(topicSubject, rowSchema());
      const evolved = rowSchema([...features, { name: 'rating', type: 'float32' }]);
      assert.deepEqual(await registry.checkCompatibility(topicSubject, evolved), { compatible: true, messages: [] });
      await registry.register(topicSubject, evolved);
    });

    it('refuses removing or retyping a feature, naming it', async () => {
      const { registry } = await fixture();
      const topicSubject = subject();
      await registry.setCompatibility(topicSubject, 'BACKWARD');
      const id = await registry.register(topicSubject, rowSchema());

      const removed = rowSchema(features.filter((feature) => feature.name !== 'acc_rate'));
      const removal = await registry.checkCompatibility(topicSubject, removed);
      assert.equal(removal.compatible, false);
      assert.ok(removal.messages.includes("feature 'acc_rate' was removed"), removal.messages.join('\n'));
      await assert.rejects(registry.register(topicSubject, removed), {
        code: 'SCHEMA_INCOMPATIBLE',
        message: /feature 'acc_rate' was removed/,
      });

      const retyped = rowSchema([{ name: 'conv_rate', type: 'string' }, features[1]!]);
      const retyping = await registry.checkCompatibility(topicSubject, retyped);
      assert.equal(retyping.compatible, false);
      assert.ok(
        retyping.messages.includes("feature 'conv_rate' changed type from double to string"),
        retyping.messages.join('\n'),
      );
      await assert.rejects(registry.register(topicSubject, retyped), {
        code: 'SCHEMA_INCOMPATIBLE',
        message: /feature 'conv_rate'/,
      });

      const latest = await registry.latestVersion(topicSubject);
      assert.deepEqual([latest?.id, latest?.version], [id, 1]);
    });

    it('applies BACKWARD to a subject never configured', async () => {
      const { registry } = await fixture();
      const topicSubject = subject();
      await registry.register(topicSubject, rowSchema());
      const removed = rowSchema(features.filter((feature) => feature.name !== 'acc_rate'));
      await assert.rejects(registry.register(topicSubject, removed), {
        code: 'SCHEMA_INCOMPATIBLE',
        message: /feature 'acc_rate' was removed/,
      });
    });

    it('accepts anything once the subject is set to NONE', async () => {
      const { registry } = await fixture();
      const topicSubject = subject();
      await registry.register(topicSubject, rowSchema());
      await registry.setCompatibility(topicSubject, 'NONE');
      await registry.register(topicSubject, rowSchema([{ name: 'conv_rate', type: 'string' }]));
      assert.equal((await registry.latestVersion(topicSubject))?.version, 2);
    });

    it('lists the subjects it holds', async () => {
      const { registry } = await fixture();
      const subjects = [subject(), subject()];
      for (const each of subjects) await registry.register(each, rowSchema());
      const listed = await registry.listSubjects();
      for (const each of subjects) assert.ok(listed.includes(each), `${each} listed`);
      assert.deepEqual(listed, [...listed].sort());
    });

    it('keeps ids and versions across a restart', async (test) => {
      const { registry, reopen } = await fixture();
      if (reopen === undefined) return test.skip('the store outlives this process by design');
      const topicSubject = subject();
      const first = await registry.register(topicSubject, rowSchema());
      const second = await registry.register(
        topicSubject,
        rowSchema([...features, { name: 'rating', type: 'float32' }]),
      );
      const reopened = await reopen();
      opened.push(reopened);
      assert.equal(await reopened.register(topicSubject, rowSchema()), first);
      assert.deepEqual(await reopened.latestVersion(topicSubject).then((latest) => [latest?.id, latest?.version]), [
        second,
        2,
      ]);
      assert.equal(normalizedSchemaText(await reopened.getSchema(first)), normalizedSchemaText(rowSchema()));
      const third = await reopened.register(subject(), rowSchema([{ name: 'other', type: 'int32' }]));
      assert.ok(third > second, `new ids keep increasing (${third} > ${second})`);
    });
  });
}
