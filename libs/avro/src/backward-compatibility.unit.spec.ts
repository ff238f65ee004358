import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { EntityDefinition, FeatureDefinition, FeatureViewDefinition } from '@featurelog/domain';
import {
  backwardCompatibilityProblems,
  checkBackwardCompatible,
  describeRowProblem,
  featurelogTypeName,
} from './backward-compatibility';
import { rowSchemaFor } from './row-schema';

const driver: EntityDefinition = { name: 'driver', joinKeys: [{ name: 'driver_id', type: 'int64' }] };
const features: FeatureDefinition[] = [
  { name: 'conv_rate', type: 'float64' },
  { name: 'acc_rate', type: 'float32' },
  { name: 'trips', type: 'int32' },
  { name: 'tags', type: 'list<string>' },
];
const view: FeatureViewDefinition = {
  name: 'driver_stats',
  version: 1,
  entities: ['driver'],
  features,
  ttlSeconds: 0,
  online: true,
  offline: true,
};
const old = rowSchemaFor(view, [driver], 'demo');
const withFeatures = (changed: FeatureDefinition[], entity: EntityDefinition = driver) =>
  rowSchemaFor({ ...view, features: changed }, [entity], 'demo');
const retype = (name: string, type: FeatureDefinition['type']) =>
  withFeatures(features.map((feature) => (feature.name === name ? { ...feature, type } : feature)));

describe('checkBackwardCompatible', () => {
  it('accepts the same schema, and one that only adds a nullable feature or changes docs', () => {
    assert.deepEqual(checkBackwardCompatible(old, old), []);
    assert.deepEqual(checkBackwardCompatible(old, JSON.stringify(old)), []);
    assert.deepEqual(
      checkBackwardCompatible(old, withFeatures([...features, { name: 'rating', type: 'float64' }])),
      [],
    );
    assert.deepEqual(
      checkBackwardCompatible(
        old,
        withFeatures(features.map((feature) => ({ ...feature, description: 'now documented' }))),
      ),
      [],
    );
  });

  it('accepts Avro promotions (int → long, float → double), since old values read exactly', () => {
    assert.deepEqual(checkBackwardCompatible(old, retype('trips', 'int64')), []);
    assert.deepEqual(checkBackwardCompatible(old, retype('acc_rate', 'float64')), []);
  });

  it('refuses a retyped feature, naming it and both types', () => {
    assert.deepEqual(checkBackwardCompatible(old, retype('conv_rate', 'string')), [
      "feature 'conv_rate' changed type from double to string",
    ]);
    assert.deepEqual(checkBackwardCompatible(retype('trips', 'int64'), old), [
      "feature 'trips' changed type from long to int",
    ]);
    assert.deepEqual(checkBackwardCompatible(old, retype('tags', 'list<int64>')), [
      "feature 'tags' changed type from array<string> to array<long>",
    ]);
    assert.deepEqual(checkBackwardCompatible(old, retype('conv_rate', 'timestamp')), [
      "feature 'conv_rate' changed type from double to timestamp-micros",
    ]);
  });

  it('refuses a removed feature, even though Avro itself would skip it', () => {
    assert.deepEqual(
      checkBackwardCompatible(old, withFeatures(features.filter((feature) => feature.name !== 'acc_rate'))),
      ["feature 'acc_rate' was removed"],
    );
  });

  it('lists every problem at once', () => {
    const changed = withFeatures([
      { name: 'conv_rate', type: 'string' },
      { name: 'trips', type: 'int32' },
    ]);
    assert.deepEqual(checkBackwardCompatible(old, changed), [
      "feature 'conv_rate' changed type from double to string",
      "feature 'acc_rate' was removed",
      "feature 'tags' was removed",
    ]);
  });

  it('refuses changes to join keys, naming them as join keys', () => {
    const retyped = withFeatures(features, { name: 'driver', joinKeys: [{ name: 'driver_id', type: 'string' }] });
    assert.deepEqual(checkBackwardCompatible(old, retyped), ["join key 'driver_id' changed type from long to string"]);
    const added = withFeatures(features, {
      name: 'driver',
      joinKeys: [
        { name: 'driver_id', type: 'int64' },
        { name: 'fleet', type: 'string' },
      ],
    });
    assert.deepEqual(checkBackwardCompatible(old, added), [
      "join key 'fleet' was added without a default (old data has no value for it)",
    ]);
  });

  it('refuses making a nullable field non-nullable, and accepts the reverse', () => {
    const strict = {
      ...old,
      fields: old.fields.map((field) => (field.name === 'conv_rate' ? { name: 'conv_rate', type: 'double' } : field)),
    };
    assert.deepEqual(checkBackwardCompatible(old, strict), [
      "feature 'conv_rate' became non-nullable (old data may hold null)",
    ]);
    assert.deepEqual(checkBackwardCompatible(strict, old), []);
  });

  it('refuses a renamed record unless the new one aliases the old name', () => {
    const renamed = { ...old, name: 'driver_statistics' };
    assert.deepEqual(checkBackwardCompatible(old, renamed), [
      'record name changed from featurelog.demo.driver_stats to featurelog.demo.driver_statistics (add the old name to "aliases" to rename)',
    ]);
    assert.deepEqual(checkBackwardCompatible(old, { ...renamed, aliases: ['driver_stats'] }), []);
  });

  it('speaks of fields in records that are not feature rows, and follows field aliases', () => {
    const before = {
      type: 'record',
      name: 'Change',
      fields: [
        { name: 'op', type: { type: 'enum', name: 'Op', symbols: ['UPSERT', 'DELETE'] } },
        { name: 'who', type: 'string' },
      ],
    };
    const fewerSymbols = {
      ...before,
      fields: [{ name: 'op', type: { type: 'enum', name: 'Op', symbols: ['UPSERT'] } }, before.fields[1]],
    };
    const [problem] = checkBackwardCompatible(before, fewerSymbols);
    assert.match(problem!, /^field 'op' changed type incompatibly: /);
    const renamedField = {
      ...before,
      fields: [before.fields[0], { name: 'author', type: 'string', aliases: ['who'] }],
    };
    assert.deepEqual(checkBackwardCompatible(before, renamedField), []);
  });

  it('compares non-record schemas as a whole', () => {
    assert.deepEqual(checkBackwardCompatible('int', 'long'), []);
    assert.deepEqual(checkBackwardCompatible('string', 'long').length, 1);
    assert.throws(() => checkBackwardCompatible('{"type":', 'long'), { code: 'AVRO_SCHEMA_INVALID' });
  });
});

describe('describeRowProblem', () => {
  const describeAll = (changed: ReturnType<typeof rowSchemaFor>) =>
    backwardCompatibilityProblems(old, changed).map(describeRowProblem);

  it("words a row schema's problems in featurelog type names, never Avro's", () => {
    assert.deepEqual(describeAll(retype('trips', 'string')), [
      'feature trips int32 → string is not backward compatible',
    ]);
    assert.deepEqual(describeAll(retype('tags', 'list<int64>')), [
      'feature tags list<string> → list<int64> is not backward compatible',
    ]);
    assert.deepEqual(describeAll(retype('conv_rate', 'timestamp')), [
      'feature conv_rate float64 → timestamp is not backward compatible',
    ]);
    assert.deepEqual(describeAll(withFeatures(features.filter((feature) => feature.name !== 'acc_rate'))), [
      'feature acc_rate was removed (rows already written hold it, and readers rely on it)',
    ]);
    const fleet: EntityDefinition = { ...driver, joinKeys: [...driver.joinKeys, { name: 'fleet', type: 'string' }] };
    assert.deepEqual(describeAll(withFeatures(features, fleet)), [
      'join key fleet was added, and rows already written have no value for it',
    ]);
  });

  it('maps every Avro type featurelog derives back to its featurelog type', () => {
    assert.equal(featurelogTypeName(['null', 'long']), 'int64');
    assert.equal(featurelogTypeName('boolean'), 'bool');
    assert.equal(featurelogTypeName(['null', { type: 'array', items: 'double' }]), 'list<float64>');
    assert.equal(featurelogTypeName({ type: 'long', logicalType: 'timestamp-micros' }), 'timestamp');
    assert.equal(featurelogTypeName({ type: 'fixed', name: 'md5', size: 16 }), 'md5');
  });
});
