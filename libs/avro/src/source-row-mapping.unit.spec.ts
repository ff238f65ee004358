import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sourceRowMapper, type KafkaDataSource } from '@featurelog/avro';
import type { EntityDefinition, FeatureViewDefinition } from '@featurelog/domain';

const entities: EntityDefinition[] = [{ name: 'driver', joinKeys: [{ name: 'driver_id', type: 'int64' }] }];
const view: FeatureViewDefinition = {
  name: 'driver_live',
  version: 1,
  entities: ['driver'],
  features: [
    { name: 'conv_rate', type: 'float64' },
    { name: 'trips', type: 'int64' },
  ],
  ttlSeconds: 0,
  online: true,
  offline: true,
};
const source = (extra: Partial<KafkaDataSource> = {}): KafkaDataSource => ({
  name: 'driver_events',
  kind: 'kafka',
  topic: 'rides.driver-events',
  timestampField: 'ts',
  fieldMapping: { driver: 'driver_id', conversion: 'conv_rate' },
  ...extra,
});
const schema = (ts: unknown, created?: unknown) => ({
  type: 'record',
  name: 'DriverEvent',
  fields: [
    { name: 'driver', type: 'long' },
    { name: 'conversion', type: ['null', 'double'] },
    { name: 'trips', type: 'long' },
    { name: 'ts', type: ts },
    ...(created === undefined ? [] : [{ name: 'created', type: created }]),
  ],
});

describe('sourceRowMapper', () => {
  it('maps fields by fieldMapping or by name, and reads timestamps by their logical type', () => {
    const record = { driver: 7, conversion: 0.5, trips: 3, ts: 1_700_000_000_123, other: 'x' };
    const millis = sourceRowMapper(source(), schema({ type: 'long', logicalType: 'timestamp-millis' }), view, entities);
    assert.deepEqual(millis(record), {
      driver_id: 7,
      conv_rate: 0.5,
      trips: 3,
      event_timestamp: 1_700_000_000_123_000,
      created_timestamp: null,
    });
    const micros = sourceRowMapper(source(), schema({ type: 'long', logicalType: 'timestamp-micros' }), view, entities);
    assert.equal(micros(record).event_timestamp, 1_700_000_000_123);
    const plain = sourceRowMapper(source(), schema('long'), view, entities);
    assert.equal(plain(record).event_timestamp, 1_700_000_000_123_000, 'a plain long is epoch milliseconds');
  });

  it('reads ISO-8601 strings to the microsecond, and the created timestamp when configured', () => {
    const map = sourceRowMapper(
      source({ createdTimestampField: 'created' }),
      schema('string', ['null', 'string']),
      view,
      entities,
    );
    const row = map({ driver: 1, conversion: null, trips: 0, ts: '2025-01-01T00:00:00.000123', created: null });
    assert.equal(row.event_timestamp, Date.UTC(2025, 0, 1) * 1000 + 123);
    assert.equal(row.created_timestamp, null);
    assert.equal(row.conv_rate, null);
  });

  it('refuses a timestamp field the source schema does not have', () => {
    assert.throws(
      () => sourceRowMapper(source({ timestampField: 'when' }), schema('long'), view, entities),
      /SOURCE_MAPPING_INVALID|timestamp field 'when'/,
    );
  });
});
