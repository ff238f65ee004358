import { FeaturelogError, type ValueType } from '@featurelog/domain';
import type { SegmentColumn } from './segment-schema';

/**
 * Exports merge Parquet segments as they lie on disk: sorted by join keys compared by type (numbers
 * numerically, strings by UTF-16 code units, false before true, bytes lexicographically; see
 * compareSegmentRows). libs/pit compares entity keys as JavaScript strings. This encoding bridges the two:
 * for two key tuples a and b of the same join keys, `sortableEntityKey(a) < sortableEntityKey(b)` exactly
 * when a sorts before b in segment order, and equal tuples give equal strings. It is an in-process join
 * key, never stored; the log and the online store keep the domain's encodeEntityKey.
 *
 * Layout: one component per join key, joined by U+0000. A present value is U+0001 then its encoding, so
 * a missing value (an entity row without that key, which then matches nothing) is the empty component
 * and sorts first. Integers: `0` then 2^53 + n for negatives, `1` then n otherwise, as 14 lower-case
 * hex digits (exact for every safe integer; fixed width makes text order numeric order). Booleans: `0`/`1`. Bytes: lower-case hex. Strings: U+0000
 * → U+0001 U+0001 and U+0001 → U+0001 U+0002, a monotone prefix-free escape, so no component contains
 * the separator and a shorter string still sorts before its extensions.
 */
export function sortableEntityKey(
  joinKeys: readonly SegmentColumn[],
  values: Readonly<Record<string, unknown>>,
): string {
  if (joinKeys.length === 1) {
    const key = joinKeys[0]!;
    return sortableComponent(key.name, key.type, values[key.name]);
  }
  let text = '';
  for (let i = 0; i < joinKeys.length; i++) {
    const key = joinKeys[i]!;
    if (i > 0) text += '\u0000';
    text += sortableComponent(key.name, key.type, values[key.name]);
  }
  return text;
}

const INTEGER_BIAS = 2 ** 53;

function sortableComponent(name: string, type: ValueType, value: unknown): string {
  if (value === null || value === undefined) return '';
  switch (type) {
    case 'int32':
    case 'int64':
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw mismatch(name, type, value);
      // Sign first, then 14 hex digits of n (n >= 0) or of 2^53 + n (n < 0): both stay exact doubles.
      return value < 0
        ? '\u00010' + (value + INTEGER_BIAS).toString(16).padStart(14, '0')
        : '\u00011' + value.toString(16).padStart(14, '0');
    case 'string':
      if (typeof value !== 'string') throw mismatch(name, type, value);
      return (
        '\u0001' +
        (value.includes('\u0000') || value.includes('\u0001') ? value.replace(CONTROL, escapeControl) : value)
      );
    case 'bool':
      if (typeof value !== 'boolean') throw mismatch(name, type, value);
      return value ? '\u00011' : '\u00010';
    case 'bytes':
      if (!(value instanceof Uint8Array)) throw mismatch(name, type, value);
      return '\u0001' + Buffer.from(value.buffer, value.byteOffset, value.length).toString('hex');
    default:
      throw mismatch(name, type, value);
  }
}

// eslint-disable-next-line no-control-regex -- U+0000/U+0001 are exactly the characters this encoding escapes
const CONTROL = /[\u0000\u0001]/g;

function escapeControl(char: string): string {
  return char === '\u0000' ? '\u0001\u0001' : '\u0001\u0002';
}

function mismatch(name: string, type: ValueType, value: unknown): FeaturelogError {
  return new FeaturelogError(
    'JOIN_KEY_TYPE_MISMATCH',
    `join key "${name}" is ${type}, but a row holds ${typeof value} ${String(value)}`,
  );
}
