/**
 * How to encode the values of a view's stored row (view-value.ts), measured on the online benches'
 * 10 driver features (bench/driver-features.ts), no Redis:
 *
 *   node_modules/.bin/node -r @swc-node/register bench/online-store/view-value.bench.ts
 *
 * - texts: each value's encodeStoredValue text, varint-length-prefixed (what the store writes). A read
 *   for serving ends with the texts: its JSON answer copies them (numbers verbatim).
 * - MessagePack: the values in name order as MessagePack (a minimal codec of the kinds a driver row
 *   holds); a read for serving decodes them and writes each as JSON text.
 * - Avro (avsc): a record of nullable fields typed from the values (the writer schema must be known to
 *   read: the view's schema beside every value, or a schema id in it); a read decodes and writes JSON.
 * Per case: bytes of the values part, µs to encode one row, µs to read one row to JSON texts.
 */
import avro from 'avsc';
import type { FeatureValue } from '@featurelog/domain';
import { encodeStoredValue, encodeViewValue, storedSpansAt, viewValueParts } from '@featurelog/online-store';
import { driverFeatures } from '../driver-features';

const ROWS = 2_000;
const ROUNDS = 7;
const START = 1_735_689_600_000_000;

const rows = Array.from({ length: ROWS }, (_, i) => driverFeatures(i * 7, START + i * 1_000_003));
const names = Object.keys(rows[0]!);
const all = Int32Array.from(names.map((_, i) => i));
const spans = new Int32Array(2 * names.length);

const AVRO_TYPES: Record<string, string> = {
  trips_1h: 'long',
  trips_24h: 'long',
  revenue_24h: 'double',
  avg_rating: 'float',
  acceptance_rate: 'double',
  distance_km: 'double',
  last_trip_at: 'long',
  is_active: 'boolean',
  city: 'string',
  vehicle_id: 'long',
};
const avroType = avro.Type.forSchema({
  type: 'record',
  name: 'driver',
  fields: names.map((name) => ({ name, type: ['null', AVRO_TYPES[name]!] })),
});

function viewValue(features: Record<string, FeatureValue>, i: number): Buffer {
  return encodeViewValue({
    project: 'p',
    entityKey: 'e',
    view: 'v',
    version: { eventTimestamp: START + i, createdTimestamp: null, position: { partition: 0, offset: i } },
    features,
  });
}

const cases = {
  texts: {
    encode: (features: Record<string, FeatureValue>, i: number) => viewValue(features, i),
    // Where each text is (what serving reads), then the texts themselves, as the other cases end with.
    readToJson: (value: Buffer) => {
      storedSpansAt(value, viewValueParts(value), all, all.length - 1, spans, 0);
      return names.map((_, k) => value.toString('utf8', spans[2 * k]!, spans[2 * k + 1]!));
    },
    valueBytes: (value: Buffer) => value.length - viewValueParts(value).namesEnd,
  },
  MessagePack: {
    encode: (features: Record<string, FeatureValue>) => msgpackEncode(names.map((name) => features[name] ?? null)),
    readToJson: (value: Buffer) => msgpackDecode(value).map((v) => JSON.stringify(v)),
    valueBytes: (value: Buffer) => value.length,
  },
  Avro: {
    encode: (features: Record<string, FeatureValue>) => avroType.toBuffer(features),
    readToJson: (value: Buffer) => {
      const record = avroType.fromBuffer(value) as Record<string, FeatureValue>;
      return names.map((name) => JSON.stringify(record[name]));
    },
    valueBytes: (value: Buffer) => value.length,
  },
};

const results: Record<string, { bytes: number; encodeUs: number; readUs: number }> = {};
for (let round = 0; round < ROUNDS; round++) {
  for (const [label, codec] of Object.entries(cases)) {
    let started = process.hrtime.bigint();
    const encoded = rows.map((features, i) => codec.encode(features, i));
    const encodeUs = Number(process.hrtime.bigint() - started) / 1e3 / ROWS;
    started = process.hrtime.bigint();
    let sink = 0;
    for (let k = 0; k < 5; k++) for (const value of encoded) sink += codec.readToJson(value).length;
    const readUs = Number(process.hrtime.bigint() - started) / 1e3 / ROWS / 5;
    if (sink === 0) throw new Error('nothing read');
    const bytes = encoded.reduce((sum, value) => sum + codec.valueBytes(value), 0) / ROWS;
    const held = results[label];
    results[label] = {
      bytes,
      encodeUs: Math.min(held?.encodeUs ?? Infinity, encodeUs),
      readUs: Math.min(held?.readUs ?? Infinity, readUs),
    };
  }
}
const texts = rows[0]!;
console.log(`10 driver features, ${ROWS} rows, best of ${ROUNDS} rounds (${names.join(', ')})`);
console.log(`sample texts: ${names.map((name) => encodeStoredValue(texts[name]!)).join(' | ')}`);
console.table(
  Object.fromEntries(
    Object.entries(results).map(([label, r]) => [
      label,
      {
        'value bytes': r.bytes.toFixed(1),
        'encode µs/row': r.encodeUs.toFixed(2),
        'read to JSON µs/row': r.readUs.toFixed(2),
      },
    ]),
  ),
);

/** MessagePack of null, booleans, numbers (float64; safe integers as int64/uint64) and strings. */
function msgpackEncode(values: FeatureValue[]): Buffer {
  const out = Buffer.allocUnsafe(512);
  let at = 0;
  out[at++] = 0x90 | values.length;
  for (const value of values) {
    if (value === null) out[at++] = 0xc0;
    else if (typeof value === 'boolean') out[at++] = value ? 0xc3 : 0xc2;
    else if (typeof value === 'number') {
      if (Number.isInteger(value) && value >= 0 && value < 128) out[at++] = value;
      else if (Number.isSafeInteger(value)) {
        out[at++] = 0xd3;
        out.writeBigInt64BE(BigInt(value), at);
        at += 8;
      } else {
        out[at++] = 0xcb;
        out.writeDoubleBE(value, at);
        at += 8;
      }
    } else if (typeof value === 'string') {
      const length = Buffer.byteLength(value);
      out[at++] = 0xd9;
      out[at++] = length;
      at += out.write(value, at, 'utf8');
    } else throw new Error('kind not in the bench');
  }
  return Buffer.from(out.subarray(0, at));
}

function msgpackDecode(bytes: Buffer): FeatureValue[] {
  let at = 1;
  const count = bytes[0]! & 0x0f;
  const out = new Array<FeatureValue>(count);
  for (let i = 0; i < count; i++) {
    const tag = bytes[at++]!;
    if (tag < 0x80) out[i] = tag;
    else if (tag === 0xc0) out[i] = null;
    else if (tag === 0xc2 || tag === 0xc3) out[i] = tag === 0xc3;
    else if (tag === 0xd3) {
      out[i] = Number(bytes.readBigInt64BE(at));
      at += 8;
    } else if (tag === 0xcb) {
      out[i] = bytes.readDoubleBE(at);
      at += 8;
    } else if (tag === 0xd9) {
      const length = bytes[at++]!;
      out[i] = bytes.toString('utf8', at, at + length);
      at += length;
    } else throw new Error(`tag ${tag} not in the bench`);
  }
  return out;
}
