import {
  listElementType,
  parseJsonExact,
  parseTimestampText,
  type ScalarType,
  type ValueType,
} from '@featurelog/domain';

const INTEGER = /^[+-]?\d+(\.0*)?$/;
const FLOAT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const SPECIAL_FLOATS: Record<string, number> = {
  nan: NaN,
  inf: Infinity,
  '+inf': Infinity,
  '-inf': -Infinity,
  infinity: Infinity,
  '+infinity': Infinity,
  '-infinity': -Infinity,
};
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const HEX = /^0x([0-9a-fA-F]{2})*$/;

/**
 * The value of one CSV cell for a field of `type`. CSV has only text, so:
 * - an empty cell is null (absent), for every type;
 * - integers in decimal (`12`, and `12.0` as pandas writes integer columns holding NaN);
 * - floats in decimal or exponent form, and `nan`, `inf`, `-inf` (any case);
 * - bool as `true`/`false` (any case) or `1`/`0`;
 * - bytes as base64, or hex with a `0x` prefix;
 * - timestamp as ISO 8601 (naive is UTC) or integer epoch microseconds;
 * - lists as a JSON array of such values (bytes and timestamps as strings or numbers, as above).
 * Text that does not read as the type is returned unchanged, so validation names the field and the text.
 */
export function csvValue(type: ValueType, text: string): unknown {
  if (text === '') return null;
  const element = listElementType(type);
  if (element === undefined) return scalarFromText(type as ScalarType, text);
  let parsed: unknown;
  try {
    parsed = parseJsonExact(text);
  } catch {
    return text;
  }
  if (!Array.isArray(parsed)) return text;
  return parsed.map((item: unknown) => (typeof item === 'string' ? scalarFromText(element, item) : item));
}

function scalarFromText(type: ScalarType, text: string): unknown {
  const trimmed = text.trim();
  switch (type) {
    case 'int32':
    case 'int64': {
      if (!INTEGER.test(trimmed)) return text;
      const number = Number(trimmed);
      // Past 2^53 a double is not the integer written: keep it exact (a bigint) for validation to name and refuse.
      return Number.isSafeInteger(number) ? number : BigInt(trimmed.replace(/\.0*$/, '').replace(/^\+/, ''));
    }
    case 'float32':
    case 'float64': {
      if (FLOAT.test(trimmed)) return Number(trimmed);
      const lower = trimmed.toLowerCase();
      return Object.hasOwn(SPECIAL_FLOATS, lower) ? SPECIAL_FLOATS[lower] : text;
    }
    case 'bool': {
      const lower = trimmed.toLowerCase();
      if (lower === 'true' || lower === '1') return true;
      if (lower === 'false' || lower === '0') return false;
      return text;
    }
    case 'string':
      return text;
    case 'bytes':
      if (HEX.test(trimmed)) return Uint8Array.from(Buffer.from(trimmed.slice(2), 'hex'));
      if (trimmed.length % 4 === 0 && BASE64.test(trimmed)) return Uint8Array.from(Buffer.from(trimmed, 'base64'));
      return text;
    case 'timestamp':
      if (/^\d+$/.test(trimmed)) return Number(trimmed);
      return parseTimestampText(trimmed) ?? text;
    default:
      return text;
  }
}
