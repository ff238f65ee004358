import type { JoinKey } from './definitions';
import { FeaturelogError } from './errors';
import type { ScalarType } from './value-types';

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * Encodes join-key values as the text used for Kafka message keys and online-store keys:
 * `name=value` pairs sorted by join-key name and joined by `|`, e.g. `driver_id=1001|trip_id=abc`.
 *
 * Values by type: int32/int64 in decimal (`-5`; an int64 may be a bigint, which keeps one past 2^53
 * exact), bool `true`/`false`, bytes as lowercase hex, string as itself with `%`, `|`, `=` and
 * control characters escaped as `%XX` (UTF-8 bytes, upper hex).
 * The same values always give the same text, and distinct values give distinct text, so the key can
 * be used for partitioning and equality. Throws MISSING_JOIN_KEY or INVALID_JOIN_KEY_VALUE naming the key.
 */
export function encodeEntityKey(joinKeys: readonly JoinKey[], values: Readonly<Record<string, unknown>>): string {
  return sortedKeys(joinKeys)
    .map((key) => {
      const value = values[key.name];
      if (value === undefined || value === null) {
        throw new FeaturelogError('MISSING_JOIN_KEY', `join key "${key.name}" has no value`);
      }
      return `${key.name}=${encodeKeyValue(key, value)}`;
    })
    .join('|');
}

/** Inverse of encodeEntityKey; throws INVALID_ENTITY_KEY naming what does not match the join keys. */
export function decodeEntityKey(
  joinKeys: readonly JoinKey[],
  text: string,
): Record<string, boolean | number | string | Uint8Array> {
  const keys = sortedKeys(joinKeys);
  const parts = text.split('|');
  if (parts.length !== keys.length) {
    throw new FeaturelogError(
      'INVALID_ENTITY_KEY',
      `entity key "${text}" has ${parts.length} part(s); expected ${keys.length} (${keys.map((k) => k.name).join(', ')})`,
    );
  }
  const out: Record<string, boolean | number | string | Uint8Array> = {};
  keys.forEach((key, i) => {
    const part = parts[i]!;
    const equals = part.indexOf('=');
    const name = equals < 0 ? part : part.slice(0, equals);
    if (equals < 0 || name !== key.name) {
      throw new FeaturelogError('INVALID_ENTITY_KEY', `entity key "${text}": part ${i + 1} should be "${key.name}=…"`);
    }
    out[key.name] = decodeKeyValue(key, part.slice(equals + 1), text);
  });
  return out;
}

function sortedKeys(joinKeys: readonly JoinKey[]): JoinKey[] {
  return [...joinKeys].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function invalid(key: JoinKey, value: unknown, expected: string): FeaturelogError {
  return new FeaturelogError(
    'INVALID_JOIN_KEY_VALUE',
    `join key "${key.name}" (${key.type}) must be ${expected}, got ${describeShallow(value)}`,
  );
}

/**
 * A value from a request, described without looking inside it: String() and JSON.stringify recurse into
 * nested lists and overflow the stack on a value nested thousands deep (a RangeError, answered 500).
 */
function describeShallow(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `a list of ${value.length}`;
  if (value instanceof Uint8Array) return `${value.length} byte(s)`;
  if (typeof value === 'string')
    return `string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === 'bigint') return `bigint ${value}n`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}

function encodeKeyValue(key: JoinKey, value: unknown): string {
  switch (key.type) {
    case 'int32':
      if (!Number.isInteger(value) || (value as number) < INT32_MIN || (value as number) > INT32_MAX) {
        throw invalid(key, value, 'an integer in int32 range');
      }
      return String(value);
    case 'int64':
      // A bigint carries an int64 past 2^53 exactly (a join key given as a string of digits).
      if (typeof value === 'bigint' && value >= INT64_MIN && value <= INT64_MAX) return String(value);
      if (!Number.isSafeInteger(value))
        throw invalid(key, value, 'a safe integer (|n| <= 2^53 - 1) or an int64 bigint');
      return String(value);
    case 'bool':
      if (typeof value !== 'boolean') throw invalid(key, value, 'a boolean');
      return String(value);
    case 'string':
      if (typeof value !== 'string') throw invalid(key, value, 'a string');
      return escapeString(value);
    case 'bytes':
      if (!(value instanceof Uint8Array)) throw invalid(key, value, 'a Uint8Array');
      return Array.from(value, (byte) => byte.toString(16).padStart(2, '0')).join('');
    default:
      throw invalid(key, value, `of a join key type, and ${key.type as ScalarType} is not one`);
  }
}

function decodeKeyValue(key: JoinKey, text: string, whole: string): boolean | number | string | Uint8Array {
  const bad = (expected: string) =>
    new FeaturelogError(
      'INVALID_ENTITY_KEY',
      `entity key "${whole}": "${key.name}" must be ${expected}, got "${text}"`,
    );
  switch (key.type) {
    case 'int32':
    case 'int64': {
      // Only the canonical decimal form, so that decoding then encoding gives back the same text.
      if (!/^(0|-?[1-9][0-9]*)$/.test(text)) throw bad('a decimal integer');
      const value = Number(text);
      const ok = key.type === 'int32' ? value >= INT32_MIN && value <= INT32_MAX : Number.isSafeInteger(value);
      if (!ok) throw bad(`in ${key.type} range`);
      return value;
    }
    case 'bool':
      if (text !== 'true' && text !== 'false') throw bad('true or false');
      return text === 'true';
    case 'string':
      return unescapeString(text, bad);
    case 'bytes':
      if (!/^([0-9a-f]{2})*$/.test(text)) throw bad('lowercase hex');
      return Uint8Array.from(text.match(/../g) ?? [], (pair) => parseInt(pair, 16));
    default:
      throw bad(`of a join key type, and ${key.type as ScalarType} is not one`);
  }
}

// eslint-disable-next-line no-control-regex
const ESCAPED = /[%|=\u0000-\u001f\u007f]/g;

// eslint-disable-next-line no-control-regex
const MUST_ESCAPE = /^[%|=\u0000-\u001f\u007f]$/;

function escapeString(value: string): string {
  return value.replace(ESCAPED, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

function unescapeString(text: string, bad: (expected: string) => FeaturelogError): string {
  // eslint-disable-next-line no-control-regex
  if (/[|=\u0000-\u001f\u007f]/.test(text)) throw bad('escaped (%XX for %, |, = and control characters)');
  return text.replace(/%(.{0,2})/g, (_match, hex: string) => {
    const code = /^[0-9A-F]{2}$/.test(hex) ? parseInt(hex, 16) : NaN;
    const char = String.fromCharCode(code);
    if (Number.isNaN(code) || !MUST_ESCAPE.test(char))
      throw bad('escaped only as %XX for %, |, = and control characters');
    return char;
  });
}
