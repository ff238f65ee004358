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
const rider: EntityDefinition = { name: 'rider', joinKeys: [{ name: 'rider_id', type: 'int64' }] };
/** `note` is in no source record: absent is null. */
const view: FeatureViewDefinition = {
  name: 'rider_speed',
  version: 1,
  entities: ['rider'],
  features: [
    { name: 'speed', type: 'float64' },
    { name: 'trips', type: 'int64' },
    { name: 'note', type: 'string' },
  ],
  ttlSeconds: 3600,
  online: true,
  offline: false,
};
const source: KafkaDataSource = {
  name: 'rider_events',
  kind: 'kafka',
  topic: 'rides.rider-events',
  timestampField: 'ts',
  fieldMapping: { rdr: 'rider_id', kmh: 'speed' },
};
const appSchema = {
  type: 'record',
  name: 'RiderEvent',
  fields: [
    { name: 'rdr', type: ['null', 'long'] },
    { name: 'kmh', type: ['null', 'double', 'string'] },
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

/** A row of the view's own schema (id 1), as a producer writes it. */
const managedRow = (values: Record<string, unknown>) =>
  encodeRow(1, avroType(rowSchemaFor(view, [rider], PROJECT)), {
    rider_id: 7,
    event_timestamp: millis * 1000,
    created_timestamp: null,
    speed: null,
    trips: null,
    note: null,
    ...values,
  });

describe('ViewRowDecoder', () => {
  it('resolves a view to its managed topic, or to the topic of its kafka data source', () => {
    const definitions: TaggedDefinition[] = [
      { kind: 'entity', definition: rider },
      { kind: 'data_source', definition: source },
      { kind: 'feature_view', definition: view },
    ];
    assert.equal(resolveView(definitions, PROJECT, view).topic, 'rides.features.rider_speed');
    const reading = resolveView(definitions, PROJECT, { ...view, source: 'rider_events' });
    assert.equal(reading.topic, 'rides.rider-events');
    assert.deepEqual(reading.joinKeys, rider.joinKeys);
    assert.throws(() => resolveView(definitions, PROJECT, { ...view, source: 'gone' }), {
      code: 'UNKNOWN_DATA_SOURCE',
      message: /feature view "rider_speed" reads data source "gone"/,
    });
    assert.throws(() => resolveView(definitions, PROJECT, { ...view, entities: ['driver'] }), {
      code: 'UNKNOWN_ENTITY',
    });
  });

  it('decodes a managed record into the view row, and refuses tombstones, bad frames and impossible timestamps', async () => {
    const schema = rowSchemaFor(view, [rider], PROJECT);
    const schemas = registry(new Map([[1, schema]]));
    const rows = new ViewRowDecoder(
      resolvedView(PROJECT, view, [rider], undefined),
      PROJECT,
      new RowDecoder(schemas),
      schemas,
    );
    const good = managedRow({ speed: 0.5, trips: 3 });
    const early = managedRow({ event_timestamp: -5 });
    const unknown = Buffer.from(good);
    unknown.writeUInt32BE(9, 1); // a writer schema id the registry never gave
    await rows.prepare([record(good), record(early), record(unknown), record(null)]);
    const row = rows.decode(good);
    assert.deepEqual(row, {
      joinKeys: { rider_id: 7 },
      eventTimestamp: millis * 1000,
      createdTimestamp: null,
      features: { speed: 0.5, trips: 3, note: null },
    });
    assert.equal(rows.entityKey(row), 'rider_id=7');
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
      resolvedView(PROJECT, { ...view, source: source.name }, [rider], source),
      PROJECT,
      new RowDecoder(schemas),
      schemas,
    );
    assert.equal(rows.topic, 'rides.rider-events');
    const type = avroType(appSchema);
    const encode = (values: Record<string, unknown>) =>
      encodeRow(3, type, { rdr: 1, kmh: 0.5, trips: 2, ts: millis, ...values });
    const good = encode({});
    const keyless = encode({ rdr: null });
    const wrongType = encode({ kmh: 'fast' });
    const ancient = encode({ ts: -1e15 });
    await rows.prepare([good, keyless, wrongType, ancient].map((value) => record(value)));
    assert.deepEqual(rows.decode(good), {
      joinKeys: { rider_id: 1 },
      eventTimestamp: millis * 1000,
      createdTimestamp: null,
      features: { speed: 0.5, trips: 2, note: null },
    });
    assert.throws(() => rows.decode(keyless), { code: 'MISSING_JOIN_KEY', message: /rider_id/ });
    assert.throws(() => rows.decode(wrongType), {
      code: 'SOURCE_TYPE_MISMATCH',
      message: /rides\.rider-events does not resolve to view "rider_speed": speed/,
    });
    assert.throws(() => rows.decode(ancient), { code: 'INVALID_TIMESTAMP' });
  });

  it('fails prepare as retriable only when the registry cannot answer', async () => {
    const schemas = registry(new Map());
    const rows = new ViewRowDecoder(
      resolvedView(PROJECT, view, [rider], undefined),
      PROJECT,
      new RowDecoder(schemas),
      schemas,
    );
    const value = managedRow({});
    await rows.prepare([record(value)]);
    assert.throws(() => rows.decode(value), { code: 'SCHEMA_NOT_FOUND' });
    schemas.state.down = true;
    await assert.rejects(rows.prepare([record(value)]), {
      code: 'WRITER_SCHEMAS_UNAVAILABLE',
      retriable: true,
      message: /rides\.features\.rider_speed: connect ECONNREFUSED/,
    });
  });

  it('is the same decoder only for the very same definitions', () => {
    const schemas = registry(new Map());
    const decoder = new RowDecoder(schemas);
    const make = (definition: FeatureViewDefinition) =>
      new ViewRowDecoder(resolvedView(PROJECT, definition, [rider], undefined), PROJECT, decoder, schemas);
    assert.ok(make(view).sameAs(make(view)));
    assert.ok(!make(view).sameAs(make({ ...view })));
  });
});
