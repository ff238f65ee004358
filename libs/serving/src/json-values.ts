import { listElementType, type FeatureValue, type ValueType } from '@featurelog/domain';
import { decodeStoredValue } from '@featurelog/online-store';

/** Writes one feature value as JSON text. */
export type ValueEncoder = (value: FeatureValue | undefined) => string;

/**
 * JSON forms of feature values, chosen once per column from its type:
 * numbers as numbers (timestamps stay epoch microseconds), bytes as base64 strings, lists as arrays,
 * and the floats JSON cannot hold (NaN, ±Infinity) as the strings "NaN", "Infinity", "-Infinity"
 * rather than JSON.stringify's silent null.
 */
export function valueEncoderFor(type: ValueType): ValueEncoder {
  const element = listElementType(type);
  if (element !== undefined) {
    const encodeItem = scalarEncoder(element);
    return (value) => {
      if (value === null || value === undefined) return 'null';
      const items = value as FeatureValue[];
      let out = '[';
      for (let i = 0; i < items.length; i++) out += (i === 0 ? '' : ',') + encodeItem(items[i]);
      return out + ']';
    };
  }
  return scalarEncoder(type);
}

function scalarEncoder(type: ValueType): ValueEncoder {
  switch (type) {
    case 'bool':
    case 'int32':
    case 'int64':
    case 'timestamp':
      return (value) => (value === null || value === undefined ? 'null' : String(value));
    case 'float32':
    case 'float64':
      return (value) => {
        if (value === null || value === undefined) return 'null';
        return Number.isFinite(value) ? String(value) : `"${String(value)}"`;
      };
    case 'bytes':
      return (value) =>
        value === null || value === undefined ? 'null' : `"${Buffer.from(value as Uint8Array).toString('base64')}"`;
    default:
      return (value) => (value === null || value === undefined ? 'null' : JSON.stringify(value));
  }
}

/** Writes one feature value, given in its stored text form (encodeStoredValue), as JSON text. */
export type StoredValueEncoder = (stored: string) => string;

/**
 * The JSON of a stored value without decoding it where the stored form already is that JSON:
 * numbers are stored as their shortest round-trip decimal (String(n), as the JSON encoder writes
 * them), plain lists as JSON, strings as `s` + the string, bytes as `b` + base64. Exactly
 * `valueEncoderFor(type)(decodeStoredValue(stored))` for every value of the type (a unit test holds
 * it to that); the rare forms (`-0`, NaN, ±Infinity, tagged lists) and forms of another kind than
 * the type's go through that slow path.
 */
export function storedValueEncoderFor(type: ValueType): StoredValueEncoder {
  const encode = valueEncoderFor(type);
  const slow: StoredValueEncoder = (stored) => encode(decodeStoredValue(stored));
  if (listElementType(type) !== undefined) {
    return (stored) => (stored === '' ? 'null' : stored.charCodeAt(0) === 0x5b /* [ */ ? stored : slow(stored));
  }
  switch (type) {
    case 'int32':
    case 'int64':
    case 'timestamp':
    case 'float32':
    case 'float64':
      return (stored) => (stored === '' ? 'null' : isPlainNumber(stored) ? stored : slow(stored));
    case 'bool':
      return (stored) => (stored === 't' ? 'true' : stored === 'f' ? 'false' : slow(stored));
    case 'string':
      return (stored) =>
        stored === '' ? 'null' : stored.charCodeAt(0) === 0x73 /* s */ ? JSON.stringify(stored.slice(1)) : slow(stored);
    case 'bytes':
      return (stored) =>
        stored === '' ? 'null' : stored.charCodeAt(0) === 0x62 /* b */ ? `"${stored.slice(1)}"` : slow(stored);
    default:
      return slow;
  }
}

/** A stored number whose text is its JSON: a digit first, or `-` and a digit, and not `-0`. */
function isPlainNumber(stored: string): boolean {
  const first = stored.charCodeAt(0);
  if (first >= 0x30 && first <= 0x39) return true;
  if (first !== 0x2d /* - */ || stored === '-0') return false;
  const second = stored.charCodeAt(1);
  return second >= 0x30 && second <= 0x39;
}

/** Feast's timestamp for values without one (join keys, NOT_FOUND). */
export const EPOCH_TEXT = '"1970-01-01T00:00:00Z"';

const MS_PER_DAY = 86_400_000;
/** `"YYYY-MM-DDT` per day since the epoch: a response repeats few days, and Date formatting is slow. */
const dayPrefixes = new Map<number, string>();
const MAX_CACHED_DAYS = 4_096;
const pad2 = (n: number) => (n < 10 ? `0${n}` : String(n));
const pad3 = (n: number) => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : String(n));

/**
 * RFC 3339 text of epoch microseconds, JSON-quoted, as Date#toISOString writes it (`.mmm` always),
 * extended to `.mmmuuu` when there are microseconds.
 */
export function timestampJson(micros: number): string {
  const millis = Math.floor(micros / 1_000);
  const rest = micros - millis * 1_000;
  const day = Math.floor(millis / MS_PER_DAY);
  let prefix = dayPrefixes.get(day);
  if (prefix === undefined) {
    const date = new Date(day * MS_PER_DAY).toISOString();
    // Years outside 0000-9999 are written with a sign by toISOString; keep them exact, uncached.
    if (date.length !== 24) return legacyTimestampJson(millis, rest);
    prefix = `"${date.slice(0, 11)}`;
    if (dayPrefixes.size >= MAX_CACHED_DAYS) dayPrefixes.clear();
    dayPrefixes.set(day, prefix);
  }
  let ofDay = millis - day * MS_PER_DAY;
  const ms = ofDay % 1_000;
  ofDay = (ofDay - ms) / 1_000;
  const seconds = ofDay % 60;
  ofDay = (ofDay - seconds) / 60;
  const minutes = ofDay % 60;
  const hours = (ofDay - minutes) / 60;
  const time = `${prefix}${pad2(hours)}:${pad2(minutes)}:${pad2(seconds)}`;
  return rest === 0 ? `${time}.${pad3(ms)}Z"` : `${time}.${pad3(ms)}${pad3(rest)}Z"`;
}

function legacyTimestampJson(millis: number, rest: number): string {
  const iso = new Date(millis).toISOString();
  return rest === 0 ? `"${iso}"` : `"${iso.slice(0, -1)}${pad3(rest)}Z"`;
}
