import { listElementType, parseTimestampText, type FeatureViewDefinition, type JoinKey } from '@featurelog/domain';

/**
 * A row as callers hand it to the producer: the view's join keys, `event_timestamp`, optional
 * `created_timestamp` and features, in the domain representation (see FeatureValue), with two
 * conveniences: a timestamp may be a JS Date or an ISO 8601 string, and an integer may be a bigint
 * within the safe range (Parquet readers and parseJsonExact return int64 that way; beyond it an int64
 * stays a bigint that validation refuses by its exact value, a float or timestamp becomes its double).
 * Anything else is validated as is.
 */
export type InputRow = Readonly<Record<string, unknown>>;

/** Field name → how its input is converted; fields not listed are passed through unchanged. */
type Converter = (value: unknown) => unknown;

/**
 * Builds the converter of one view's rows into the domain representation, once per view: it only
 * touches timestamp and integer fields, and leaves values it cannot convert for validation to report.
 */
export function rowNormalizer(
  view: Pick<FeatureViewDefinition, 'features'>,
  joinKeys: readonly JoinKey[],
): (row: InputRow) => Record<string, unknown> {
  const converters = new Map<string, Converter>([
    ['event_timestamp', timestampInput],
    ['created_timestamp', timestampInput],
  ]);
  for (const key of joinKeys) if (key.type === 'int32' || key.type === 'int64') converters.set(key.name, integerInput);
  for (const feature of view.features) {
    const element = listElementType(feature.type);
    const scalar = element ?? feature.type;
    const convert =
      scalar === 'timestamp'
        ? timestampInput
        : scalar === 'int32' || scalar === 'int64'
          ? integerInput
          : scalar === 'float32' || scalar === 'float64'
            ? floatInput
            : undefined;
    if (convert === undefined) continue;
    converters.set(feature.name, element === undefined ? convert : (value) => listInput(value, convert));
  }
  const entries = [...converters];
  return (row) => {
    let out: Record<string, unknown> | undefined;
    for (const [field, convert] of entries) {
      const value = row[field];
      if (value === undefined || value === null) continue;
      const converted = convert(value);
      if (converted !== value) {
        out ??= { ...row };
        out[field] = converted;
      }
    }
    return out ?? (row as Record<string, unknown>);
  };
}

function integerInput(value: unknown): unknown {
  if (typeof value === 'bigint' && value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER))
    return Number(value);
  return value;
}

function timestampInput(value: unknown): unknown {
  if (value instanceof Date) {
    const millis = value.getTime();
    return Number.isNaN(millis) ? value : millis * 1000;
  }
  if (typeof value === 'string') return parseTimestampText(value) ?? value;
  // Past 2^53 µs (year 2255) timestamps are doubles by design (see MAX_TIMESTAMP_MICROS); the range check decides.
  if (typeof value === 'bigint') return Number(value);
  return integerInput(value);
}

/** A float field holds the nearest double of any number, so an exact big integer becomes one. */
function floatInput(value: unknown): unknown {
  return typeof value === 'bigint' ? Number(value) : value;
}

function listInput(value: unknown, convert: Converter): unknown {
  if (!Array.isArray(value)) return value;
  let out: unknown[] | undefined;
  value.forEach((item: unknown, i) => {
    const converted = item === null || item === undefined ? item : convert(item);
    if (converted !== item) {
      out ??= [...(value as unknown[])];
      out[i] = converted;
    }
  });
  return out ?? value;
}
