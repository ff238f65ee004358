import { listElementType, type FeatureValue, type ValueType } from '@featurelog/domain';

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

/** Feast's timestamp for values without one (join keys, NOT_FOUND). */
export const EPOCH_TEXT = '"1970-01-01T00:00:00Z"';

/** RFC 3339 text of epoch microseconds, with the microseconds when they are not zero; JSON-quoted. */
export function timestampJson(micros: number): string {
  const millis = Math.floor(micros / 1_000);
  const rest = micros - millis * 1_000;
  const iso = new Date(millis).toISOString();
  return rest === 0 ? `"${iso}"` : `"${iso.slice(0, -1)}${String(rest).padStart(3, '0')}Z"`;
}
