import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FeatureValue } from '@featurelog/domain';
import { decodeStoredValue, encodeStoredValue } from '@featurelog/online-store';

describe('stored feature value form', () => {
  it('writes each kind in its documented form', () => {
    const forms: Array<[FeatureValue, string]> = [
      [null, ''],
      [true, 't'],
      [false, 'f'],
      [42, '42'],
      [-0, '-0'],
      [Number.NaN, 'NaN'],
      [Number.NEGATIVE_INFINITY, '-Infinity'],
      [0.1, '0.1'],
      ['', 's'],
      ['42', 's42'],
      [Uint8Array.of(0, 7, 255), 'bAAf/'],
      [[1.5, null, 'a', true], '[1.5,null,"a",true]'],
      [[Uint8Array.of(1), Number.NaN], 'l["bAQ==","NaN"]'],
    ];
    for (const [value, form] of forms) {
      assert.equal(encodeStoredValue(value), form, `form of ${String(value)}`);
      assert.deepEqual(decodeStoredValue(form), value, `value of ${form}`);
    }
  });

  it('round-trips random doubles bit for bit', () => {
    const bits = new DataView(new ArrayBuffer(8));
    for (let i = 0; i < 10_000; i++) {
      bits.setUint32(0, (Math.random() * 2 ** 32) >>> 0);
      bits.setUint32(4, (Math.random() * 2 ** 32) >>> 0);
      const value = bits.getFloat64(0);
      assert.ok(Object.is(decodeStoredValue(encodeStoredValue(value)), value) || Number.isNaN(value), `${value}`);
    }
  });

  it('refuses what is not a feature value, and a form it does not know', () => {
    assert.throws(() => encodeStoredValue({} as FeatureValue), { code: 'INVALID_FEATURE_VALUE' });
    assert.throws(() => decodeStoredValue('x1'), { code: 'ONLINE_STORE_CORRUPT' });
  });
});
