import type { FeatureViewDefinition, JoinKey } from './definitions';
import { FeaturelogError } from './errors';
import { listElementType, type ScalarType, type ValueType } from './value-types';

/** Timestamps are epoch micros from 1970-01-01T00:00:00Z; earlier values are almost always a unit mistake. */
export const MIN_TIMESTAMP_MICROS = 0;
/**
 * The last double at or before 9999-12-31T23:59:59.999999Z. Beyond 2^53 µs (year 2255) doubles step by
 * more than 1 µs (32 µs near year 9999), so such late timestamps are accepted but not exact to the microsecond.
 */
export const MAX_TIMESTAMP_MICROS = 253_402_300_799_999_968;

const FLOAT32_MAX = 3.4028234663852886e38;

/**
 * Why `value` is not a valid value of `type` (see FeatureValue for the representation), or undefined
 * when it is. Null is valid (absent). The message names `field`.
 */
export function validateFeatureValue(type: ValueType, value: unknown, field = 'value'): string | undefined {
  if (value === null || value === undefined) return undefined;
  const element = listElementType(type);
  if (element === undefined) return validateScalar(type as ScalarType, value, field);
  if (!Array.isArray(value)) return `${field} must be a list of ${element}, got ${describe(value)}`;
  for (let i = 0; i < value.length; i++) {
    const item: unknown = value[i];
    if (item === null || item === undefined)
      return `${field}[${i}] must not be null (elements of a list<${element}> are non-null)`;
    const problem = validateScalar(element, item, `${field}[${i}]`);
    if (problem) return problem;
  }
  return undefined;
}

/** Why `value` is not a valid timestamp in epoch micros within 1970..9999, or undefined. */
export function validateTimestampMicros(value: unknown, field: string): string | undefined {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    return `${field} must be an integer count of microseconds since 1970-01-01T00:00:00Z, got ${describe(value)}`;
  }
  if (value < MIN_TIMESTAMP_MICROS || value > MAX_TIMESTAMP_MICROS) {
    return `${field} ${value} is outside years 1970..9999 (in microseconds: ${MIN_TIMESTAMP_MICROS}..${MAX_TIMESTAMP_MICROS}); was it given in another unit?`;
  }
  return undefined;
}

function validateScalar(type: ScalarType, value: unknown, field: string): string | undefined {
  const expect = (what: string) => `${field} must be ${what} (${type}), got ${describe(value)}`;
  switch (type) {
    case 'bool':
      return typeof value === 'boolean' ? undefined : expect('true or false');
    case 'int32':
      return Number.isInteger(value) && (value as number) >= -(2 ** 31) && (value as number) <= 2 ** 31 - 1
        ? undefined
        : expect('an integer in -2^31..2^31-1');
    case 'int64':
      return Number.isSafeInteger(value) ? undefined : expect('a safe integer (|n| <= 2^53 - 1)');
    case 'float32':
      if (typeof value !== 'number') return expect('a number');
      return Number.isFinite(value) && Math.abs(value) > FLOAT32_MAX ? expect('a number in float32 range') : undefined;
    case 'float64':
      return typeof value === 'number' ? undefined : expect('a number');
    case 'string':
      return typeof value === 'string' ? undefined : expect('a string');
    case 'bytes':
      return value instanceof Uint8Array ? undefined : expect('bytes (a Uint8Array)');
    case 'timestamp':
      return validateTimestampMicros(value, field);
    default:
      return `${field} has unknown type ${String(type)}`;
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Uint8Array) return 'bytes';
  if (typeof value === 'string')
    return `string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === 'bigint') return `bigint ${value}`;
  return `${typeof value} ${String(value)}`;
}

export interface RowProblem {
  field: string;
  code: 'MISSING_JOIN_KEY' | 'INVALID_VALUE' | 'INVALID_TIMESTAMP' | 'UNKNOWN_FIELD';
  message: string;
}

export interface RowValidationOptions {
  /** Report columns that are neither join keys, timestamps nor features (rows from wide files carry extra columns). */
  rejectUnknownFields?: boolean;
}

/**
 * Checks one feature row, a flat record of the view's join keys, `event_timestamp`, optional
 * `created_timestamp` and features, against the view. Join keys must be present and typed; timestamps
 * are epoch micros within years 1970..9999; features must have their type or be null/absent.
 * Returns every problem, each naming its field; empty when valid.
 */
export function validateRow(
  view: Pick<FeatureViewDefinition, 'name' | 'features'>,
  joinKeys: readonly JoinKey[],
  row: Readonly<Record<string, unknown>>,
  { rejectUnknownFields = false }: RowValidationOptions = {},
): RowProblem[] {
  const problems: RowProblem[] = [];
  for (const key of joinKeys) {
    const value = row[key.name];
    if (value === undefined || value === null) {
      problems.push({ field: key.name, code: 'MISSING_JOIN_KEY', message: `join key ${key.name} is missing` });
      continue;
    }
    const problem = validateScalar(key.type, value, key.name);
    if (problem) problems.push({ field: key.name, code: 'INVALID_VALUE', message: problem });
  }
  const event = validateTimestampMicros(row.event_timestamp, 'event_timestamp');
  if (event) problems.push({ field: 'event_timestamp', code: 'INVALID_TIMESTAMP', message: event });
  if (row.created_timestamp !== undefined && row.created_timestamp !== null) {
    const created = validateTimestampMicros(row.created_timestamp, 'created_timestamp');
    if (created) problems.push({ field: 'created_timestamp', code: 'INVALID_TIMESTAMP', message: created });
  }
  for (const feature of view.features) {
    const problem = validateFeatureValue(feature.type, row[feature.name], feature.name);
    if (problem) problems.push({ field: feature.name, code: 'INVALID_VALUE', message: problem });
  }
  if (rejectUnknownFields) {
    const known = new Set([
      ...joinKeys.map((k) => k.name),
      ...view.features.map((f) => f.name),
      'event_timestamp',
      'created_timestamp',
    ]);
    for (const field of Object.keys(row)) {
      if (!known.has(field)) {
        problems.push({
          field,
          code: 'UNKNOWN_FIELD',
          message: `${field} is no join key, timestamp or feature of ${view.name}`,
        });
      }
    }
  }
  return problems;
}

/** Throws INVALID_ROW listing every problem of the row, or returns when it is valid. */
export function assertValidRow(
  view: Pick<FeatureViewDefinition, 'name' | 'features'>,
  joinKeys: readonly JoinKey[],
  row: Readonly<Record<string, unknown>>,
  options: RowValidationOptions = {},
): void {
  const problems = validateRow(view, joinKeys, row, options);
  if (problems.length > 0) {
    throw new FeaturelogError(
      'INVALID_ROW',
      `row for ${view.name} is invalid: ${problems.map((p) => p.message).join('; ')}`,
    );
  }
}
