import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom } from '@featurelog/testing';
import { encodeStoredValue } from '@featurelog/online-store';
import {
  float32Json,
  float32Text,
  JsonWriter,
  storedValueEncoderFor,
  storedValueWriterFor,
  timestampJson,
  valueEncoderFor,
} from '@featurelog/serving';

const bits = new Uint32Array(1);
const single = new Float32Array(bits.buffer);
const float32OfBits = (word: number) => {
  bits[0] = word;
  return single[0]!;
};

/** Significant digits of a decimal text (`-0.00120e5` has 2). */
const digitsOf = (text: string) =>
  text.replace(/^-/, '').replace(/e.*$/, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '').length;

/**
 * Oracle for "no shorter decimal reads back": a decimal of k - 1 digits that reads back lies within
 * half a float32 step of the value, so it is the floor or the ceiling of the value at k - 1 digits,
 * and both are among the nearest one and its two neighbours.
 */
function shorterThatReadsBack(value: number, digits: number): number | undefined {
  if (digits <= 1) return undefined;
  const nearest = value.toExponential(digits - 2);
  const e = nearest.indexOf('e');
  const negative = nearest.startsWith('-');
  const mantissa = Number(nearest.slice(negative ? 1 : 0, e).replace('.', ''));
  const exponent = Number(nearest.slice(e + 1)) - (digits - 2);
  for (const m of [mantissa - 1, mantissa, mantissa + 1]) {
    const candidate = Number(`${negative ? '-' : ''}${m}e${exponent}`);
    if (m > 0 && Math.fround(candidate) === value) return candidate;
  }
  return undefined;
}

describe('float32 as JSON', () => {
  it('is the shortest decimal that reads back as the same float32, for random bit patterns and every power of two', () => {
    const out = new JsonWriter(8);
    const writeStored = storedValueWriterFor('float32');
    const random = seededRandom(12);
    const values: number[] = [];
    for (let i = 0; i < 60_000; i++) values.push(float32OfBits(Math.floor(random() * 2 ** 32)));
    for (let exponent = 0; exponent < 255; exponent++) {
      values.push(
        float32OfBits(exponent << 23),
        float32OfBits((exponent << 23) | 1),
        float32OfBits((exponent << 23) | 0x7f_ffff),
      );
    }
    for (let i = 1; i < 300; i++) values.push(float32OfBits(i)); // the smallest subnormals
    let checked = 0;
    for (const value of values) {
      if (!Number.isFinite(value)) continue;
      const text = float32Text(value);
      assert.equal(Math.fround(Number(text)), value, `${text} reads back as ${value}`);
      assert.equal(String(Number(text)), text, `${text} is written as JavaScript writes numbers`);
      const shorter = shorterThatReadsBack(value, digitsOf(text));
      assert.equal(shorter, undefined, `${value}: ${shorter} is shorter than ${text}`);
      // Written into a buffer (from the stored text, the double's String) it is the same bytes.
      out.reset();
      writeStored(out, String(value));
      assert.equal(out.toString(), text, `${value} written`);
      checked++;
    }
    assert.ok(checked > 50_000);
  });

  it('writes what people typed, not the double a float32 widens to', () => {
    assert.equal(float32Json(Math.fround(4.9)), '4.9');
    assert.equal(String(Math.fround(4.9)), '4.900000095367432');
    assert.equal(float32Json(Math.fround(0.1)), '0.1');
    assert.equal(float32Json(Math.fround(16_777_217)), '16777216');
    assert.equal(float32Json(3.4028234663852886e38), '3.4028235e+38');
    assert.equal(float32Json(Math.fround(1e-7)), '1e-7');
    assert.equal(float32Json(1.401298464324817e-45), '1e-45');
    assert.equal(float32Json(-0), '0');
    // A double the float32 cannot hold: written as the float32 it is.
    assert.equal(float32Json(1e300), '"Infinity"');
    assert.equal(float32Json(Number.NaN), '"NaN"');
    assert.equal(valueEncoderFor('list<float32>')([Math.fround(4.9), Math.fround(-2.2)]), '[4.9,-2.2]');
  });

  it('is the same from the stored text as from the value', () => {
    const random = seededRandom(5);
    const encodeStored = storedValueEncoderFor('float32');
    const encode = valueEncoderFor('float32');
    for (let i = 0; i < 20_000; i++) {
      const value = i % 2 === 0 ? float32OfBits(Math.floor(random() * 2 ** 32)) : (random() - 0.5) * 10 ** (i % 40);
      assert.equal(encodeStored(encodeStoredValue(value)), encode(value), String(value));
    }
  });
});

describe('timestamp features as JSON', () => {
  it('are RFC 3339 UTC text, exactly as event_timestamps are written', () => {
    const encode = valueEncoderFor('timestamp');
    const encodeStored = storedValueEncoderFor('timestamp');
    for (const micros of [0, 1, 1_700_000_000_000_001, 1_700_000_000_123_000, -1, -86_400_000_000_001]) {
      assert.equal(encode(micros), timestampJson(micros));
      assert.equal(encodeStored(encodeStoredValue(micros)), timestampJson(micros));
    }
    assert.equal(encode(1_700_000_000_000_001), '"2023-11-14T22:13:20.000001Z"');
    assert.equal(encode(1_700_000_000_000_000), '"2023-11-14T22:13:20.000Z"');
    assert.equal(valueEncoderFor('list<timestamp>')([0, null]), '["1970-01-01T00:00:00.000Z",null]');
    // Not a timestamp a row could hold (rows are validated): the number, never a 500.
    assert.equal(encode(1.5), '1.5');
    assert.equal(encode(1e300), '1e+300');
  });
});
