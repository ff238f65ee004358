import {
  FeaturelogError,
  listElementType,
  parseTimestampText,
  type FeatureValue,
  type ValueType,
} from '@featurelog/domain';
import type { ColumnType } from './connect-types';

const FLOAT32_MAX = 3.4028234663852886e38;
const MICROS_PER_DAY = 86_400_000_000;

/** How a record writes bytes: JsonConverter as base64 text, Avro as bytes. */
export type BytesEncoding = 'base64' | 'binary';

function mismatch(field: string, what: string, target: ValueType): FeaturelogError {
  return new FeaturelogError('SOURCE_TYPE_MISMATCH', `field ${field}: ${what} cannot be a ${target}`);
}

/**
 * The value of a view's column of type `target` from a source column's value, read by the column's
 * type (null when the column type is unknown: schema-less JSON, typed by the view alone):
 *
 * - Connect's and Debezium's temporal logical types: a point in time (Timestamp, Date, MicroTimestamp,
 *   NanoTimestamp — floored to µs —, ZonedTimestamp text) is a `timestamp` in epoch µs; any temporal
 *   value is an int32/int64 as the source counts it (days, ms, µs since the epoch or midnight); a time
 *   of day is no timestamp;
 * - a Decimal (unscaled big-endian two's complement, base64 in JSON, with its `scale`) or Debezium's
 *   VariableScaleDecimal is a `string` exactly, a float64/float32 when finite (in range), an int32/int64
 *   when it has no fraction and fits; otherwise DECIMAL_UNFIT naming the field;
 * - a plain integer or a number given for a `timestamp` is epoch MILLIseconds (as for Avro sources), text
 *   an ISO-8601 instant;
 * - bytes: base64 text in JSON; lists element by element.
 *
 * Values it cannot judge are returned as they are, for row validation to name (SOURCE_TYPE_MISMATCH).
 * A column of a logical type featurelog does not know is CONNECT_LOGICAL_TYPE_UNKNOWN.
 */
export function columnValue(
  target: ValueType,
  column: ColumnType | null,
  raw: unknown,
  field: string,
  bytes: BytesEncoding,
): FeatureValue {
  if (raw === null || raw === undefined) return null;
  if (column === null) return schemalessValue(target, raw, field);
  switch (column.kind) {
    case 'unknown-logical':
      throw new FeaturelogError(
        'CONNECT_LOGICAL_TYPE_UNKNOWN',
        `field ${field} has logical type ${column.logical}, which featurelog cannot read`,
      );
    case 'temporal':
      return temporalValue(target, column.unit, column.logical, raw, field);
    case 'decimal':
      return decimalColumnValue(target, column.scale, raw, field, bytes);
    case 'variable-decimal': {
      const struct = raw as { scale?: unknown; value?: unknown };
      if (typeof struct !== 'object' || typeof struct.scale !== 'number') {
        throw new FeaturelogError(
          'CONNECT_PAYLOAD_INVALID',
          `field ${field}: a VariableScaleDecimal must be a struct {scale, value}`,
        );
      }
      return decimalColumnValue(target, struct.scale, struct.value, field, bytes);
    }
    case 'bytes':
      return bytesValue(raw, field, bytes);
    case 'int':
    case 'float':
      if (target === 'timestamp' && typeof raw === 'number') return raw * 1000;
      return raw as FeatureValue;
    case 'string':
      if (target === 'timestamp' && typeof raw === 'string') return timestampText(raw, field);
      return raw as FeatureValue;
    case 'array': {
      const element = listElementType(target);
      if (!Array.isArray(raw) || element === undefined) return raw as FeatureValue;
      return raw.map((item, i) => columnValue(element, column.items, item, `${field}[${i}]`, bytes));
    }
    default:
      return raw as FeatureValue;
  }
}

/** Plain JSON typed by the view: timestamps as ISO text or epoch ms, bytes as base64, lists by element. */
function schemalessValue(target: ValueType, raw: unknown, field: string): FeatureValue {
  if (target === 'timestamp') {
    if (typeof raw === 'number') return raw * 1000;
    if (typeof raw === 'string') return timestampText(raw, field);
  } else if (target === 'bytes' && typeof raw === 'string') {
    return bytesValue(raw, field, 'base64');
  } else if (Array.isArray(raw)) {
    const element = listElementType(target);
    if (element !== undefined) return raw.map((item, i) => schemalessValue(element, item, `${field}[${i}]`));
  }
  return raw as FeatureValue;
}

function timestampText(text: string, field: string): number {
  const micros = parseTimestampText(text);
  if (micros === undefined) {
    throw new FeaturelogError(
      'SOURCE_TYPE_MISMATCH',
      `field ${field}: ${JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text)} is no ISO-8601 timestamp`,
    );
  }
  return micros;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function bytesValue(raw: unknown, field: string, bytes: BytesEncoding): FeatureValue {
  if (raw instanceof Uint8Array) return raw;
  if (bytes === 'base64' && typeof raw === 'string') {
    if (raw.length % 4 !== 0 || !BASE64.test(raw)) {
      throw new FeaturelogError('CONNECT_PAYLOAD_INVALID', `field ${field}: bytes must be base64 text`);
    }
    return Buffer.from(raw, 'base64');
  }
  return raw as FeatureValue;
}

function temporalValue(target: ValueType, unit: string, logical: string, raw: unknown, field: string): FeatureValue {
  const short = logical.slice(logical.lastIndexOf('.') + 1);
  if (unit === 'text') {
    if (typeof raw !== 'string') return raw as FeatureValue;
    if (target === 'timestamp') return timestampText(raw, field);
    if (target === 'string') return raw;
    throw mismatch(field, `a ${short}`, target);
  }
  if (typeof raw !== 'number') return raw as FeatureValue;
  if (target === 'int64' || target === 'int32') return raw;
  if (target !== 'timestamp' || unit.startsWith('time-')) throw mismatch(field, `a ${short}`, target);
  switch (unit) {
    case 'days':
      return raw * MICROS_PER_DAY;
    case 'millis':
      return raw * 1000;
    case 'nanos':
      return Math.floor(raw / 1000);
    default:
      return raw;
  }
}

function decimalColumnValue(
  target: ValueType,
  scale: number,
  raw: unknown,
  field: string,
  bytes: BytesEncoding,
): FeatureValue {
  if (raw === null || raw === undefined) return null;
  // JsonConverter with decimal.format=NUMERIC writes the number itself.
  if (typeof raw === 'number') return decimalFromText(target, String(raw), field, raw);
  const unscaledBytes = bytesValue(raw, field, bytes);
  if (!(unscaledBytes instanceof Uint8Array)) {
    throw new FeaturelogError('CONNECT_PAYLOAD_INVALID', `field ${field}: a Decimal must be bytes`);
  }
  return decimalValue(target, signedBigInt(unscaledBytes), scale, field);
}

/** A big-endian two's-complement integer. */
export function signedBigInt(bytes: Uint8Array): bigint {
  if (bytes.length === 0) return 0n;
  const value = BigInt(`0x${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex')}`);
  return (bytes[0]! & 0x80) === 0 ? value : value - (1n << BigInt(bytes.length * 8));
}

/** The exact decimal text of unscaled × 10^-scale. */
export function decimalText(unscaled: bigint, scale: number): string {
  if (scale <= 0) return (unscaled * 10n ** BigInt(-scale)).toString();
  const negative = unscaled < 0n;
  const digits = (negative ? -unscaled : unscaled).toString().padStart(scale + 1, '0');
  return `${negative ? '-' : ''}${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
}

function unfit(field: string, text: string, why: string): FeaturelogError {
  return new FeaturelogError('DECIMAL_UNFIT', `field ${field}: decimal ${text} ${why}`);
}

/** Exported for the encoders of tests and benchmarks, which must agree with it. */
export function decimalValue(target: ValueType, unscaled: bigint, scale: number, field: string): FeatureValue {
  const text = decimalText(unscaled, scale);
  if (target === 'int32' || target === 'int64') {
    const divisor = 10n ** BigInt(Math.max(scale, 0));
    if (unscaled % divisor !== 0n) throw unfit(field, text, `has a fraction, which an ${target} cannot hold`);
    return integerFits(target, scale >= 0 ? unscaled / divisor : BigInt(text), text, field);
  }
  return decimalFromText(target, text, field, undefined);
}

function integerFits(target: 'int32' | 'int64', value: bigint, text: string, field: string): number {
  const limit = target === 'int32' ? 2n ** 31n : BigInt(Number.MAX_SAFE_INTEGER) + 1n;
  const low = target === 'int32' ? -limit : -limit + 1n;
  if (value < low || value >= limit) {
    throw unfit(field, text, `is outside the range of an ${target}${target === 'int64' ? ' (safe integers)' : ''}`);
  }
  return Number(value);
}

function decimalFromText(target: ValueType, text: string, field: string, number: number | undefined): FeatureValue {
  switch (target) {
    case 'string':
      return text;
    case 'float64':
    case 'float32': {
      const value = number ?? Number(text);
      if (!Number.isFinite(value) || (target === 'float32' && Math.abs(value) > FLOAT32_MAX)) {
        throw unfit(field, text, `is outside the range of a ${target}`);
      }
      return value;
    }
    case 'int32':
    case 'int64':
      if (number !== undefined ? !Number.isInteger(number) : !/^-?\d+$/.test(text)) {
        throw unfit(field, text, `has a fraction, which an ${target} cannot hold`);
      }
      return integerFits(target, BigInt(number ?? text), text, field);
    default:
      throw unfit(field, text, `cannot be a ${target}`);
  }
}
