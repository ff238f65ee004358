import { FeaturelogError, type FeatureValue } from '@featurelog/domain';
import type { MsgpackWriter } from './msgpack-writer';

/**
 * The text form of one feature value in the online store (a Redis hash field, a classic-level record).
 * Values arrive without their declared type, so the form keeps the JavaScript kind, and it is exact:
 * decode(encode(v)) deep-equals v for every FeatureValue, NaN, ±Infinity and -0 included.
 *
 * | value                | form                                   | example          |
 * |----------------------|----------------------------------------|------------------|
 * | null                 | empty                                  | ``               |
 * | true / false         | `t` / `f`                              | `t`              |
 * | number               | shortest round-trip decimal; `-0`      | `1.5`, `-0`, `NaN` |
 * | string               | `s` + the string                       | `shello`         |
 * | bytes                | `b` + base64                           | `bAAH/`          |
 * | list of null, bool, string, finite number (not -0) | JSON     | `[1.5,2]`        |
 * | any other list       | `l` + JSON array of element forms      | `l["bAAH/","NaN"]` |
 *
 * Numbers need no tag: their first character is a digit, `-`, `N` (NaN) or `I` (Infinity), none of
 * which starts another form. Int64 values are safe integers, so their decimal form is exact.
 */
export function encodeStoredValue(value: FeatureValue): string {
  if (value === null) return '';
  switch (typeof value) {
    case 'number':
      return value === 0 && 1 / value < 0 ? '-0' : String(value);
    case 'string':
      return 's' + value;
    case 'boolean':
      return value ? 't' : 'f';
  }
  if (value instanceof Uint8Array)
    return 'b' + Buffer.from(value.buffer, value.byteOffset, value.length).toString('base64');
  if (Array.isArray(value))
    return isPlainJsonList(value) ? JSON.stringify(value) : 'l' + JSON.stringify(value.map(encodeStoredValue));
  throw new FeaturelogError('INVALID_FEATURE_VALUE', `not a feature value: ${describe(value)}`);
}

/**
 * Writes encodeStoredValue(value), varint-length-prefixed as a view's stored value holds it
 * (view-value.ts), byte for byte the same, without making the text of a safe integer, a boolean or
 * null, nor the tagged copy of a string.
 */
export function writeStoredValue(out: MsgpackWriter, value: FeatureValue): void {
  if (value === null) {
    out.byte(0);
    return;
  }
  switch (typeof value) {
    case 'number':
      if (Number.isSafeInteger(value) && !(value === 0 && 1 / value < 0)) out.lengthPrefixedInteger(value);
      else out.lengthPrefixedUtf8(encodeStoredValue(value));
      return;
    case 'string':
      out.taggedLengthPrefixedUtf8(0x73 /* s */, value);
      return;
    case 'boolean':
      out.byte(1);
      out.byte(value ? 0x74 /* t */ : 0x66 /* f */);
      return;
  }
  out.lengthPrefixedUtf8(encodeStoredValue(value));
}

export function decodeStoredValue(text: string): FeatureValue {
  if (text === '') return null;
  switch (text.charCodeAt(0)) {
    case 0x73 /* s */:
      return text.slice(1);
    case 0x74 /* t */:
      return true;
    case 0x66 /* f */:
      return false;
    case 0x5b /* [ */:
      return JSON.parse(text) as FeatureValue[];
    case 0x62 /* b */: {
      // A copy, not a view: Buffer.from may slice Node's shared pool, which must not leak out.
      const bytes = Buffer.from(text.slice(1), 'base64');
      return new Uint8Array(bytes);
    }
    case 0x6c /* l */:
      return (JSON.parse(text.slice(1)) as string[]).map(decodeStoredValue);
  }
  const number = Number(text);
  if (Number.isNaN(number) && text !== 'NaN') {
    throw new FeaturelogError('ONLINE_STORE_CORRUPT', `stored feature value is in no known form: ${text.slice(0, 40)}`);
  }
  return number;
}

function isPlainJsonList(values: FeatureValue[]): boolean {
  for (const element of values) {
    if (element === null || typeof element === 'boolean' || typeof element === 'string') continue;
    if (typeof element === 'number' && Number.isFinite(element) && !(element === 0 && 1 / element < 0)) continue;
    return false;
  }
  return true;
}

function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  return value === null || typeof value !== 'object' ? String(value) : (value.constructor?.name ?? 'object');
}
