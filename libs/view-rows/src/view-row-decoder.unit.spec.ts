import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { avroType, encodeRow, rowSchemaFor, RowDecoder, type AvroSchema, type KafkaDataSource } from '@featurelog/avro';
import {
  FeaturelogError,
  type EntityDefinition,
  type FeatureViewDefinition,
  type TaggedDefinition,
} from '@featurelog/domain';
import { resolvedView, resolveView, rowVersion, ViewRowDecoder } from '@featurelog/view-rows';

const PROJECT = 'rides';
const driver: EntityDefinition = { name: 'driver', joinKeys: [{ name: 'driver_id', type: 'int64' }] };
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
const source: KafkaDataSource = {
  name: 'driver_events',
  kind: 'kafka',
  topic: 'rides.driver-events',
  timestampField: 'ts',
  fieldMapping: { driver: 'driver_id', conversion: 'conv_rate' },
};
const appSchema = {
  type: 'record',
  name: 'DriverEvent',
  fields: [
    { name: 'driver', type: ['null', 'long'] },
    { name: 'conversion', type: ['null', 'double', 'string'] },
    { name: 'trips', type: 'long' },
    { name: 'ts', type: { type: 'long', logicalType: 'timestamp-millis' } },
  ],
};
const millis = Date.UTC(2025, 0, 1);

/** A writer-schema source over a map; `down` makes it fail like an outage with a raw error. */
function registry(schemas: Map<number, unknown>) {
  const state = { down: false };
  return {
    state,
    getSchema: async (id: number) => {
      if (state.down) throw new Error('connect ECONNREFUSED');
      const found = schemas.get(id);
      if (found === undefined) throw new FeaturelogError('SCHEMA_NOT_FOUND', `no schema with id ${id}`);
      return found as AvroSchema;
    },
  };
}

const record = (value: Buffer | null, offset = 0) => ({ value, partition: 2, offset });

describe('ViewRowDecoder', () => {
  it('resolves a view to its managed topic, or to the topic of its kafka data source', () => {
    const definitions: TaggedDefinition[] = [
      { kind: 'entity', definition: driver },
      { kind: 'data_source', definition: source },
      { kind: 'feature_view', definition: view },
    ];
    assert.equal(resolveView(definitions, PROJECT, view).topic, 'rides.features.driver_live');
    const reading = resolveView(definitions, PROJECT, { ...view, source: 'driver_events' });
    assert.equal(reading.topic, 'rides.driver-events');
    assert.deepEqual(reading.joinKeys, driver.joinKeys);
    assert.throws(() => resolveView(definitions, PROJECT, { ...view, source: 'gone' }), {
      code: 'UNKNOWN_DATA_SOURCE',
      message: /feature view "driver_live" reads data source "gone"/,
    });
    assert.throws(() => resolveView(definitions, PROJECT, { ...view, entities: ['rider'] }), {
      code: 'UNKNOWN_ENTITY',
    });
  });

  it('decodes a managed record into the view row, and refuses tombstones, bad frames and impossible timestamps', async () => {
    const schema = rowSchemaFor(view, [driver], PROJECT);
    const schemas = registry(new Map([[1, schema]]));
    const rows = new ViewRowDecoder(
      resolvedView(PROJECT, view, [driver], undefined),
      PROJECT,
      new RowDecoder(schemas),
      schemas,
    );
    const type = avroType(schema);
    const good = encodeRow(1, type, {
      driver_id: 7,
      event_timestamp: millis * 1000,
      created_timestamp: null,
      conv_rate: 0.5,
      trips: 3,
    });
    const early = encodeRow(1, type, {
      driver_id: 7,
      event_timestamp: -5,
      created_timestamp: null,
      conv_rate: null,
      trips: null,
    });
    const unknown = encodeRow(9, type, {
      driver_id: 7,
      event_timestamp: 1,
      created_timestamp: null,
      conv_rate: null,
      trips: null,
    });
    await rows.prepare([record(good), record(early), record(unknown), record(null)]);
    const row = rows.decode(good);
    assert.deepEqual(row, {
      joinKeys: { driver_id: 7 },
      eventTimestamp: millis * 1000,
      createdTimestamp: null,
      features: { conv_rate: 0.5, trips: 3 },
    });
    assert.equal(rows.entityKey(row), 'driver_id=7');
    assert.deepEqual(rowVersion(row, record(good, 41)), {
      eventTimestamp: millis * 1000,
      createdTimestamp: null,
      position: { partition: 2, offset: 41 },
    });
    assert.throws(() => rows.decode(early), { code: 'INVALID_TIMESTAMP', message: /event_timestamp -5/ });
    assert.throws(() => rows.decode(unknown), { code: 'SCHEMA_NOT_FOUND' });
    assert.throws(() => rows.decode(null), { code: 'RECORD_VALUE_MISSING' });
    assert.throws(() => rows.decode(Buffer.from([1, 2, 3, 4, 5, 6])), { code: 'WIRE_BAD_MAGIC' });
  });

  it("maps an app's own record and checks it against the view: each problem with its own code", async () => {
    const schemas = registry(new Map([[3, appSchema]]));
    const rows = new ViewRowDecoder(
      resolvedView(PROJECT, { ...view, source: source.name }, [driver], source),
      PROJECT,
      new RowDecoder(schemas),
      schemas,
    );
    assert.equal(rows.topic, 'rides.driver-events');
    const type = avroType(appSchema);
    const encode = (values: Record<string, unknown>) =>
      encodeRow(3, type, { driver: 1, conversion: 0.5, trips: 2, ts: millis, ...values });
    const good = encode({});
    const keyless = encode({ driver: null });
    const wrongType = encode({ conversion: 'fast' });
    const ancient = encode({ ts: -1e15 });
    await rows.prepare([good, keyless, wrongType, ancient].map((value) => record(value)));
    assert.deepEqual(rows.decode(good), {
      joinKeys: { driver_id: 1 },
      eventTimestamp: millis * 1000,
      createdTimestamp: null,
      features: { conv_rate: 0.5, trips: 2 },
    });
    assert.throws(() => rows.decode(keyless), { code: 'MISSING_JOIN_KEY', message: /driver_id/ });
    assert.throws(() => rows.decode(wrongType), {
      code: 'SOURCE_TYPE_MISMATCH',
      message: /rides\.driver-events does not resolve to view "driver_live": conv_rate/,
    });
    assert.throws(() => rows.decode(ancient), { code: 'INVALID_TIMESTAMP' });
  });

  it('fails prepare as retriable only when the registry cannot answer', async () => {
    const schemas = registry(new Map());
    const rows = new ViewRowDecoder(
      resolvedView(PROJECT, view, [driver], undefined),
      PROJECT,
      new RowDecoder(schemas),
      schemas,
    );
    const value = encodeRow(1, avroType(rowSchemaFor(view, [driver], PROJECT)), {
      driver_id: 7,
      event_timestamp: 1,
      created_timestamp: null,
      conv_rate: null,
      trips: null,
    });
    await rows.prepare([record(value)]);
    assert.throws(() => rows.decode(value), { code: 'SCHEMA_NOT_FOUND' });
    schemas.state.down = true;
    await assert.rejects(rows.prepare([record(value)]), {
      code: 'WRITER_SCHEMAS_UNAVAILABLE',
      retriable: true,
      message: /rides\.features\.driver_live: connect ECONNREFUSED/,
    });
  });

  it('is the same decoder only for the very same definitions', () => {
    const schemas = registry(new Map());
    const decoder = new RowDecoder(schemas);
    const make = (definition: FeatureViewDefinition) =>
      new ViewRowDecoder(resolvedView(PROJECT, definition, [driver], undefined), PROJECT, decoder, schemas);
    assert.ok(make(view).sameAs(make(view)));
    assert.ok(!make(view).sameAs(make({ ...view })));
  });
});
