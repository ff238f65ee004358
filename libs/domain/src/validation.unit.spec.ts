import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertDefinitionsValid,
  DefinitionsInvalidError,
  validateDefinitions,
  type DefinitionProblem,
  type TaggedDefinition,
} from '@featurelog/domain';
import { driverDefinitions } from './definitions.fixture';

function withChange(change: (definitions: TaggedDefinition[]) => void): DefinitionProblem[] {
  const definitions = driverDefinitions();
  change(definitions);
  return validateDefinitions(definitions);
}

function view(definitions: TaggedDefinition[], name = 'driver_hourly_stats') {
  const found = definitions.find((t) => t.kind === 'feature_view' && t.definition.name === name);
  return found!.definition as import('@featurelog/domain').FeatureViewDefinition;
}

const summary = (problems: DefinitionProblem[]) => problems.map((p) => `${p.code} ${p.kind}/${p.name} ${p.field}`);

describe('validateDefinitions', () => {
  it('accepts the drivers example', () => {
    assert.deepEqual(validateDefinitions(driverDefinitions()), []);
    assert.doesNotThrow(() => assertDefinitionsValid(driverDefinitions()));
  });

  it('reports duplicate names per kind, but allows the same name in different kinds', () => {
    const problems = withChange((d) => {
      d.push({ kind: 'entity', definition: { name: 'driver', joinKeys: [{ name: 'driver_id', type: 'int64' }] } });
      d.push({ kind: 'feature_service', definition: { name: 'driver', features: ['driver_live:*'] } });
    });
    assert.deepEqual(summary(problems), ['DUPLICATE_NAME entity/driver name']);
    assert.equal(problems[0]!.index, 5, 'the second definition is the one reported');
  });

  it('reports invalid names with the pattern', () => {
    const problems = withChange((d) => {
      const stats = view(d);
      stats.features[0]!.name = '1rate';
      stats.name = 'Driver-Stats';
    });
    assert.deepEqual(summary(problems), [
      'INVALID_NAME feature_view/Driver-Stats name',
      'INVALID_NAME feature_view/Driver-Stats features[0].name',
      // the service still refers to the old name
      'UNKNOWN_REFERENCE feature_service/driver_activity features[0]',
      'UNKNOWN_REFERENCE feature_service/driver_activity features[1]',
    ]);
    assert.match(problems[0]!.message, /must match/);
  });

  it('reports unknown entity, source, view and feature references', () => {
    const problems = withChange((d) => {
      view(d).entities = ['driver', 'rider'];
      view(d).source = 'nowhere';
      (d[4]!.definition as { features: string[] }).features = ['driver_hourly_stats:speed', 'trips:*', 'no-colon'];
    });
    assert.deepEqual(summary(problems), [
      'UNKNOWN_REFERENCE feature_view/driver_hourly_stats source',
      'UNKNOWN_REFERENCE feature_view/driver_hourly_stats entities[1]',
      'UNKNOWN_REFERENCE feature_service/driver_activity features[0]',
      'UNKNOWN_REFERENCE feature_service/driver_activity features[1]',
      'INVALID_FEATURE_REFERENCE feature_service/driver_activity features[2]',
    ]);
    assert.deepEqual(problems[0]!.reference, { kind: 'data_source', name: 'nowhere' });
    assert.deepEqual(problems[3]!.reference, { kind: 'feature_view', name: 'trips' });
    assert.match(problems[2]!.message, /has no feature "speed"/);
  });

  it('reports invalid types and join key types', () => {
    const problems = withChange((d) => {
      (d[0]!.definition as { joinKeys: unknown[] }).joinKeys = [{ name: 'driver_id', type: 'float64' }];
      view(d).features[1]!.type = 'decimal' as never;
      view(d).features[2]!.type = 'list<list<int64>>' as never;
    });
    assert.deepEqual(summary(problems), [
      'INVALID_JOIN_KEY_TYPE entity/driver joinKeys[0].type',
      'INVALID_TYPE feature_view/driver_hourly_stats features[1].type',
      'INVALID_TYPE feature_view/driver_hourly_stats features[2].type',
    ]);
  });

  it('accepts list types', () => {
    const problems = withChange((d) => view(d).features.push({ name: 'recent_trips', type: 'list<int64>' }));
    assert.deepEqual(problems, []);
  });

  it('reports ttl, version and partitions out of range', () => {
    for (const [ttl, version, partitions] of [
      [-1, 0, 0],
      [1.5, 1.5, -2],
      [Number.NaN, Number.NaN, 1.1],
    ] as const) {
      const problems = withChange((d) => Object.assign(view(d), { ttlSeconds: ttl, version, partitions }));
      assert.deepEqual(summary(problems), [
        'INVALID_VERSION feature_view/driver_hourly_stats version',
        'INVALID_TTL feature_view/driver_hourly_stats ttlSeconds',
        'INVALID_PARTITIONS feature_view/driver_hourly_stats partitions',
      ]);
    }
    assert.deepEqual(
      withChange((d) => Object.assign(view(d), { ttlSeconds: 0, version: 3, partitions: 12 })),
      [],
    );
  });

  it('reports features colliding with join keys or reserved columns, and repeated features', () => {
    const problems = withChange((d) => {
      view(d).features.push({ name: 'driver_id', type: 'int64' });
      view(d).features.push({ name: 'event_timestamp', type: 'timestamp' });
      view(d).features.push({ name: 'conv_rate', type: 'float32' });
    });
    assert.deepEqual(summary(problems), [
      'NAME_COLLISION feature_view/driver_hourly_stats features[3].name',
      'NAME_COLLISION feature_view/driver_hourly_stats features[4].name',
      'DUPLICATE_NAME feature_view/driver_hourly_stats features[5].name',
    ]);
  });

  it('reports join keys shared by two entities of one view', () => {
    const problems = withChange((d) => {
      d.push({ kind: 'entity', definition: { name: 'car', joinKeys: [{ name: 'driver_id', type: 'int64' }] } });
      view(d).entities.push('car');
    });
    assert.deepEqual(summary(problems), ['NAME_COLLISION feature_view/driver_hourly_stats entities[1]']);
  });

  it('checks source fields and field mappings', () => {
    const problems = withChange((d) => {
      d[1]!.definition = {
        name: 'driver_events',
        kind: 'kafka',
        topic: 'bad topic',
        timestampField: '',
        fieldMapping: { conversion: 'conv_rate', speed: 'speed', other: 'conv_rate', ts2: 'event_timestamp' },
      };
      d.push({
        kind: 'data_source',
        definition: { name: 'stats_file', kind: 'file', path: '', format: 'xlsx' as never, timestampField: 'ts' },
      });
    });
    assert.deepEqual(summary(problems), [
      'INVALID_VALUE data_source/driver_events topic',
      'MISSING_FIELD data_source/driver_events timestampField',
      'INVALID_FIELD_MAPPING data_source/driver_events fieldMapping.speed',
      'INVALID_FIELD_MAPPING data_source/driver_events fieldMapping.other',
      'INVALID_FIELD_MAPPING data_source/driver_events fieldMapping.ts2',
      'MISSING_FIELD data_source/stats_file path',
      'INVALID_VALUE data_source/stats_file format',
    ]);
    assert.match(problems[2]!.message, /no join key or feature of driver_live/);
    assert.match(problems[3]!.message, /"other" and "conversion" both map to "conv_rate"/);
  });

  it('returns every problem at once, and the error carries them', () => {
    const definitions = driverDefinitions();
    view(definitions).ttlSeconds = -5;
    view(definitions).entities = ['nobody'];
    definitions.push({ kind: 'feature_service', definition: { name: 'empty', features: [] } });
    let error: unknown;
    try {
      assertDefinitionsValid(definitions);
    } catch (thrown) {
      error = thrown;
    }
    assert.ok(error instanceof DefinitionsInvalidError);
    assert.equal(error.problems.length, 3);
    assert.equal(error.code, 'DEFINITIONS_INVALID');
    assert.match(error.message, /3 problem\(s\)[\s\S]*ttl[\s\S]*nobody[\s\S]*at least one feature reference/);
  });

  it('survives malformed input from JSON', () => {
    const problems = validateDefinitions([
      { kind: 'entity', definition: { name: 'x' } as never },
      { kind: 'feature_view', definition: { name: 'v' } as never },
      { kind: 'bogus' as never, definition: { name: 'b' } as never },
    ]);
    assert.deepEqual(
      problems.map((p) => p.code),
      [
        'INVALID_KIND',
        'MISSING_FIELD',
        'INVALID_VERSION',
        'INVALID_TTL',
        'INVALID_VALUE',
        'INVALID_VALUE',
        'MISSING_FIELD',
        'MISSING_FIELD',
      ],
    );
  });
});
