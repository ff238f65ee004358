import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FeaturelogError } from '@featurelog/domain';
import { avroType, type AvroSchema } from './avro-type';
import { rowSchemaFor, type AvroRowSchema } from './row-schema';
import { encodeRow, readerSchema, RowDecoder, type FeatureRow } from './row-serde';
import { decodeEnvelope, encodeEnvelope } from './wire-format';

const driver = { name: 'driver', joinKeys: [{ name: 'driver_id', type: 'int64' as const }] };
const baseView = {
  name: 'driver_stats',
  version: 1,
  entities: ['driver'],
  ttlSeconds: 0,
  online: true,
  offline: true,
  features: [
    { name: 'conv_rate', type: 'float64' as const },
    { name: 'trips', type: 'int64' as const },
    { name: 'active', type: 'bool' as const },
    { name: 'city', type: 'string' as const },
    { name: 'photo', type: 'bytes' as const },
    { name: 'scores', type: 'list<float64>' as const },
    { name: 'last_seen', type: 'timestamp' as const },
  ],
};
const v1 = rowSchemaFor(baseView, [driver], 'demo');

/** Writer schemas by id, counting fetches so caching is observable. */
function schemaSource(schemas: Record<number, AvroSchema>) {
  const source = {
    fetches: 0,
    getSchema: async (id: number) => {
      source.fetches++;
      const schema = schemas[id];
      if (schema === undefined) throw new FeaturelogError('SCHEMA_NOT_FOUND', `no schema with id ${id}`);
      return schema;
    },
  };
  return source;
}

const row: FeatureRow = {
  driver_id: 2 ** 40 + 7,
  event_timestamp: 1_700_000_000_123_456,
  created_timestamp: null,
  conv_rate: 0.25,
  trips: Number.MAX_SAFE_INTEGER,
  active: true,
  city: 'Zürich',
  photo: Buffer.from([1, 2, 3]),
  scores: [1.5, -2],
  last_seen: -1,
};

describe('wire format', () => {
  it('frames a body with magic byte 0 and a big-endian schema id', () => {
    const framed = encodeEnvelope(0x01020304, Buffer.from([9, 8]));
    assert.deepEqual([...framed], [0, 1, 2, 3, 4, 9, 8]);
    const { schemaId, body } = decodeEnvelope(framed);
    assert.equal(schemaId, 0x01020304);
    assert.deepEqual([...body], [9, 8]);
  });

  it('refuses short messages and a wrong magic byte', () => {
    assert.throws(() => decodeEnvelope(Buffer.from([0, 0, 0, 1])), { code: 'WIRE_TRUNCATED' });
    assert.throws(() => decodeEnvelope(Buffer.from('{"json":true}')), { code: 'WIRE_BAD_MAGIC', message: /byte 123/ });
  });
});

describe('encodeRow / RowDecoder', () => {
  it('round-trips every value type exactly, longs over the whole safe range included', async () => {
    const decoder = new RowDecoder(schemaSource({ 7: v1 }));
    const reader = readerSchema(v1);
    for (const edge of [
      Number.MAX_SAFE_INTEGER,
      Number.MIN_SAFE_INTEGER,
      2 ** 31,
      -(2 ** 31) - 1,
      0,
      -1,
      63,
      -64,
      64,
    ]) {
      const sample = { ...row, trips: edge, driver_id: edge, created_timestamp: 1_700_000_000_999_999 };
      const framed = encodeRow(7, reader.type, sample);
      assert.equal(decodeEnvelope(framed).schemaId, 7);
      const decoded = await decoder.decode(framed, reader);
      assert.deepEqual(decoded, sample);
      assert.equal(Object.getPrototypeOf(decoded), Object.prototype, 'rows are plain objects');
    }
  });

  it('accepts plain Uint8Array bytes, and missing nullable features as null', async () => {
    const reader = readerSchema(v1);
    const framed = encodeRow(7, reader.type, { driver_id: 1, event_timestamp: 2, photo: new Uint8Array([5, 6]) });
    const decoded = await new RowDecoder(schemaSource({ 7: v1 })).decode(framed, reader);
    assert.deepEqual([...(decoded.photo as Uint8Array)], [5, 6]);
    assert.equal(decoded.conv_rate, null);
    assert.equal(decoded.created_timestamp, null);
  });

  it('names the field whose value does not fit', () => {
    const type = avroType(v1);
    assert.throws(() => encodeRow(1, type, { ...row, conv_rate: 'high' }), {
      code: 'AVRO_ENCODE_FAILED',
      message: /field 'conv_rate' has string "high"/,
    });
    assert.throws(() => encodeRow(1, type, { ...row, trips: 2 ** 53 }), {
      code: 'AVRO_ENCODE_FAILED',
      message: /field 'trips'/,
    });
    assert.throws(() => encodeRow(1, type, { ...row, driver_id: null }), {
      code: 'AVRO_ENCODE_FAILED',
      message: /field 'driver_id'/,
    });
  });

  it('grows its scratch space for large rows', async () => {
    const big = { ...row, city: 'x'.repeat(200_000) };
    const reader = readerSchema(v1);
    assert.deepEqual(await new RowDecoder(schemaSource({ 1: v1 })).decode(encodeRow(1, reader.type, big), reader), big);
  });

  it('resolves old writer data to the current reader schema, fetching each writer schema once', async () => {
    const v2: AvroRowSchema = rowSchemaFor(
      { ...baseView, features: [...baseView.features, { name: 'rating', type: 'float32' }] },
      [driver],
      'demo',
    );
    const source = schemaSource({ 1: v1, 2: v2 });
    const decoder = new RowDecoder(source);
    const reader = readerSchema(v2);
    const old = encodeRow(1, avroType(v1), row);
    const current = encodeRow(2, reader.type, { ...row, rating: 4.5 });
    await decoder.loadAll([old, current, old]);
    assert.deepEqual(decoder.decodeLoaded(old, reader), { ...row, rating: null });
    assert.deepEqual(decoder.decodeLoaded(current, reader), { ...row, rating: 4.5 });
    assert.deepEqual(await decoder.decode(old, reader), { ...row, rating: null });
    assert.equal(source.fetches, 2);
  });

  it('reports each failure with its own code and the schema id', async () => {
    const retyped = rowSchemaFor({ ...baseView, features: [{ name: 'conv_rate', type: 'string' }] }, [driver], 'demo');
    const decoder = new RowDecoder(schemaSource({ 1: v1, 3: retyped }));
    const reader = readerSchema(v1);
    const good = encodeRow(1, reader.type, row);

    await assert.rejects(
      decoder.decode(encodeRow(3, avroType(retyped), { driver_id: 1, event_timestamp: 1, conv_rate: 'x' }), reader),
      {
        code: 'AVRO_SCHEMA_UNRESOLVABLE',
        message: /schema id 3/,
      },
    );
    await assert.rejects(decoder.decode(good.subarray(0, good.length - 3), reader), {
      code: 'AVRO_DECODE_FAILED',
      message: /schema id 1/,
    });
    await assert.rejects(decoder.decode(Buffer.concat([good, Buffer.from([1])]), reader), {
      code: 'AVRO_DECODE_FAILED',
    });
    await assert.rejects(decoder.decode(encodeEnvelope(9, Buffer.from([0])), reader), { code: 'SCHEMA_NOT_FOUND' });
    assert.throws(() => decoder.decodeLoaded(encodeEnvelope(4, Buffer.from([0])), reader), {
      code: 'AVRO_WRITER_SCHEMA_NOT_LOADED',
    });
    assert.throws(() => decoder.decodeLoaded(Buffer.from([1, 0, 0, 0, 1, 0]), reader), { code: 'WIRE_BAD_MAGIC' });
  });

  it('loads a batch with an unknown writer id: only the records that carry it are poison', async () => {
    const decoder = new RowDecoder(schemaSource({ 1: v1 }));
    const reader = readerSchema(v1);
    const good = encodeRow(1, reader.type, row);
    // The record of issue #12: schema id 99999 (00 00 01 86 9f), a two-byte body.
    const poison = Buffer.from([0x00, 0x00, 0x01, 0x86, 0x9f, 0x02, 0x04]);
    await decoder.loadAll([good, poison, good]);
    assert.deepEqual(decoder.decodeLoaded(good, reader), row);
    assert.throws(
      () => decoder.decodeLoaded(poison, reader),
      (error: unknown) => error instanceof FeaturelogError && error.code === 'SCHEMA_NOT_FOUND' && !error.retriable,
    );
    // A registry that cannot answer still fails the batch, as retriable.
    const down = new RowDecoder({
      getSchema: () => Promise.reject(new FeaturelogError('SCHEMA_REGISTRY_UNAVAILABLE', 'down', { retriable: true })),
    });
    await assert.rejects(down.loadAll([good]), { code: 'SCHEMA_REGISTRY_UNAVAILABLE' });
  });

  it('refuses longs outside the safe integer range when decoding', async () => {
    const longSchema = { type: 'record', name: 'r', fields: [{ name: 'n', type: 'long' }] };
    // Zig-zag code 2^54 (seven 0x80 bytes, then 2^54 / 2^49) is 2^53, one past the safe range.
    const body = Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20]);
    await assert.rejects(
      new RowDecoder(schemaSource({ 1: longSchema })).decode(encodeEnvelope(1, body), readerSchema(longSchema)),
      {
        code: 'AVRO_DECODE_FAILED',
        message: /safe integer/,
      },
    );
  });

  it('reads and writes every long, beyond the safe integers as BigInt, with wideLongs', async () => {
    const longSchema = { type: 'record', name: 'r', fields: [{ name: 'n', type: 'long' }] };
    const wide = readerSchema(longSchema, { wideLongs: true });
    const decoder = new RowDecoder(schemaSource({ 1: longSchema }));
    const values = [
      0,
      -1,
      2 ** 53 - 1,
      -(2 ** 53) + 1,
      2n ** 53n,
      1_740_823_390_000_000_000n,
      2n ** 63n - 1n,
      -(2n ** 63n),
    ];
    for (const n of values) {
      const framed = encodeRow(1, wide.type, { n } as never);
      assert.deepEqual(await decoder.decode(framed, wide), { n }, String(n));
    }
    assert.throws(() => encodeRow(1, wide.type, { n: 2n ** 63n } as never), { code: 'AVRO_ENCODE_FAILED' });
    // The same bytes through a reader of safe longs fail, as before.
    await assert.rejects(decoder.decode(encodeRow(1, wide.type, { n: 2n ** 53n } as never), readerSchema(longSchema)), {
      code: 'AVRO_DECODE_FAILED',
    });
  });
});
