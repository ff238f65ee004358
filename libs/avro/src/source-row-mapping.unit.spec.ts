import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  avroType,
  encodeRow,
  RowDecoder,
  sourceRowMapper,
  SourceRecordDecoder,
  type AvroSchema,
  type KafkaDataSource,
} from '@featurelog/avro';
import { FeaturelogError, type EntityDefinition, type FeatureViewDefinition } from '@featurelog/domain';

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

describe('SourceRecordDecoder', () => {
  /** A writer-schema source over a map, counting fetches; `down` makes it fail like an outage. */
  function registry(schemas: Map<number, unknown>) {
    const state = { down: false, fetches: 0 };
    return {
      state,
      getSchema: async (id: number) => {
        state.fetches += 1;
        if (state.down) throw new FeaturelogError('REGISTRY_UNAVAILABLE', 'down', { retriable: true });
        const found = schemas.get(id);
        if (found === undefined) throw new FeaturelogError('SCHEMA_NOT_FOUND', `no schema with id ${id}`);
        return found as AvroSchema;
      },
    };
  }
  const millis = Date.UTC(2025, 0, 1);
  const good = schema({ type: 'long', logicalType: 'timestamp-millis' });
  const noTs = { type: 'record', name: 'NoTs', fields: [{ name: 'driver', type: 'long' }] };
  const record = { driver: 7, conversion: 0.5, trips: 3, ts: millis };

  it('decodes with the writer schema and maps; unknown ids and unusable schemas are poison; outages fail prepare', async () => {
    const schemas = registry(
      new Map<number, unknown>([
        [1, good],
        [2, noTs],
      ]),
    );
    const decoder = new SourceRecordDecoder(source(), view, entities, new RowDecoder(schemas), schemas);
    const one = encodeRow(1, avroType(good), record);
    const two = encodeRow(2, avroType(noTs), { driver: 7 });
    const nine = encodeRow(9, avroType(good), record);
    await decoder.prepare([one, two, nine]);
    assert.deepEqual(decoder.decode(one), {
      driver_id: 7,
      conv_rate: 0.5,
      trips: 3,
      event_timestamp: millis * 1000,
      created_timestamp: null,
    });
    assert.throws(() => decoder.decode(two), {
      code: 'SOURCE_SCHEMA_UNUSABLE',
      message: /writer schema 2 of rides\.driver-events cannot feed view "driver_live": .*timestamp field 'ts'/,
    });
    assert.throws(() => decoder.decode(nine), { code: 'SCHEMA_NOT_FOUND' });
    assert.throws(() => decoder.decode(Buffer.from([1, 2])), { code: /^WIRE_/ });
    schemas.state.down = true;
    await assert.rejects(decoder.prepare([nine]), { code: 'REGISTRY_UNAVAILABLE' });
    // With the registry still down: known and unusable ids are not asked again.
    await decoder.prepare([one, two]);
  });
});
