import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { EntityDefinition, FeatureViewDefinition } from '@featurelog/domain';
import { avroType } from './avro-type';
import { avroTypeFor, rowSchemaFor } from './row-schema';

const driver: EntityDefinition = {
  name: 'driver',
  joinKeys: [{ name: 'driver_id', type: 'int64' }],
  description: 'A driver',
};
const region: EntityDefinition = { name: 'region', joinKeys: [{ name: 'region_code', type: 'string' }] };

const view: FeatureViewDefinition = {
  name: 'driver_hourly_stats',
  version: 1,
  entities: ['driver', 'region'],
  features: [
    { name: 'conv_rate', type: 'float64', description: 'Conversion rate' },
    { name: 'trips', type: 'int32' },
    { name: 'embedding', type: 'list<float32>' },
    { name: 'last_trip_at', type: 'timestamp' },
  ],
  ttlSeconds: 86_400,
  online: true,
  offline: true,
};

describe('rowSchemaFor', () => {
  it('derives join keys, timestamps and nullable features in a fixed order', () => {
    const schema = rowSchemaFor(view, [region, driver], 'demo');
    assert.deepEqual(schema, {
      type: 'record',
      name: 'driver_hourly_stats',
      namespace: 'featurelog.demo',
      fields: [
        { name: 'driver_id', type: 'long', doc: 'A driver' },
        { name: 'region_code', type: 'string' },
        { name: 'event_timestamp', type: { type: 'long', logicalType: 'timestamp-micros' } },
        { name: 'created_timestamp', type: ['null', { type: 'long', logicalType: 'timestamp-micros' }], default: null },
        { name: 'conv_rate', type: ['null', 'double'], default: null, doc: 'Conversion rate' },
        { name: 'trips', type: ['null', 'int'], default: null },
        { name: 'embedding', type: ['null', { type: 'array', items: 'float' }], default: null },
        { name: 'last_trip_at', type: ['null', { type: 'long', logicalType: 'timestamp-micros' }], default: null },
      ],
    });
    avroType(schema);
  });

  it('is byte-identical when derived again, whatever order the entities come in', () => {
    const first = JSON.stringify(rowSchemaFor(view, [driver, region], 'demo'));
    const again = JSON.stringify(rowSchemaFor(structuredClone(view), [region, driver], 'demo'));
    assert.equal(again, first);
  });

  it('maps every value type', () => {
    assert.deepEqual(
      (
        [
          'bool',
          'int32',
          'int64',
          'float32',
          'float64',
          'string',
          'bytes',
          'timestamp',
          'list<string>',
          'list<int64>',
        ] as const
      ).map(avroTypeFor),
      [
        'boolean',
        'int',
        'long',
        'float',
        'double',
        'string',
        'bytes',
        { type: 'long', logicalType: 'timestamp-micros' },
        { type: 'array', items: 'string' },
        { type: 'array', items: 'long' },
      ],
    );
  });

  it('names later versions and sanitizes project and view names into Avro names', () => {
    const schema = rowSchemaFor(
      { ...view, name: 'driver-stats', version: 3, description: 'Hourly' },
      [driver, region],
      'my-shop.eu',
    );
    assert.equal(schema.name, 'driver_stats_v3');
    assert.equal(schema.namespace, 'featurelog.my_shop.eu');
    assert.equal(schema.doc, 'Hourly');
  });

  it('keeps one column for a join key shared by two entities', () => {
    const other: EntityDefinition = { name: 'car', joinKeys: [{ name: 'driver_id', type: 'int64' }] };
    const schema = rowSchemaFor({ ...view, entities: ['driver', 'car'] }, [driver, other], 'demo');
    assert.deepEqual(schema.fields.map((field) => field.name).slice(0, 2), ['driver_id', 'event_timestamp']);
  });

  it('refuses unknown entities, clashing names and invalid names, naming them', () => {
    assert.throws(() => rowSchemaFor(view, [driver], 'demo'), {
      code: 'ROW_SCHEMA_UNKNOWN_ENTITY',
      message: /entity 'region'/,
    });
    assert.throws(
      () => rowSchemaFor({ ...view, features: [{ name: 'event_timestamp', type: 'int64' }] }, [driver, region], 'demo'),
      {
        code: 'ROW_SCHEMA_DUPLICATE_FIELD',
        message: /feature 'event_timestamp'.*clashes with field 'event_timestamp'/,
      },
    );
    assert.throws(
      () => rowSchemaFor({ ...view, features: [{ name: 'driver_id', type: 'string' }] }, [driver, region], 'demo'),
      { code: 'ROW_SCHEMA_DUPLICATE_FIELD', message: /feature 'driver_id'.*join key 'driver_id' of entity 'driver'/ },
    );
    assert.throws(
      () => rowSchemaFor({ ...view, features: [{ name: 'conv-rate', type: 'float64' }] }, [driver, region], 'demo'),
      { code: 'ROW_SCHEMA_INVALID_NAME', message: /feature 'conv-rate'/ },
    );
  });
});
