import {
  FeaturelogError,
  listElementType,
  type FeatureValue,
  type ScalarType,
  type ValueType,
} from '@featurelog/domain';
import type { SchemaElement } from 'hyparquet';

/** Real timestamp columns: pandas/pyarrow read them as timestamp[us, tz=UTC], DuckDB as TIMESTAMPTZ. */
const MICROS_UTC = { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MICROS' } as const;

/**
 * The Parquet schema elements of one featurelog column. Lists are the standard three-level LIST,
 * so that other readers see list<T> rather than a bare repeated field. Segments and training sets
 * share this mapping, so their files type the same values the same way.
 */
export function parquetColumnElements(name: string, type: ValueType, nullable: boolean): SchemaElement[] {
  const repetition_type = nullable ? 'OPTIONAL' : 'REQUIRED';
  const element = listElementType(type);
  if (element === undefined) return [{ name, repetition_type, ...scalarElement(type as ScalarType) }];
  return [
    { name, repetition_type, converted_type: 'LIST', logical_type: { type: 'LIST' }, num_children: 1 },
    { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
    { name: 'element', repetition_type: 'OPTIONAL', ...scalarElement(element) },
  ];
}

function scalarElement(type: ScalarType): Pick<SchemaElement, 'type' | 'converted_type' | 'logical_type'> {
  switch (type) {
    case 'bool':
      return { type: 'BOOLEAN' };
    case 'int32':
      return { type: 'INT32' };
    case 'int64':
      return { type: 'INT64' };
    case 'float32':
      return { type: 'FLOAT' };
    case 'float64':
      return { type: 'DOUBLE' };
    case 'string':
      return { type: 'BYTE_ARRAY', converted_type: 'UTF8', logical_type: { type: 'STRING' } };
    case 'bytes':
      return { type: 'BYTE_ARRAY' };
    case 'timestamp':
      return { type: 'INT64', converted_type: 'TIMESTAMP_MICROS', logical_type: MICROS_UTC };
  }
}

/**
 * A value in the form hyparquet-writer takes: 64-bit integers travel as bigint inside the Parquet
 * libraries and as safe-integer numbers outside. Throws `code` naming the type when a value cannot be.
 */
export function toParquetValue(type: ValueType, value: FeatureValue | bigint | undefined, code: string): unknown {
  if (value === null || value === undefined) return null;
  const element = listElementType(type);
  if (element !== undefined) {
    if (!Array.isArray(value)) throw new FeaturelogError(code, `expected a list for ${type}, got ${typeof value}`);
    return value.map((item) => toParquetValue(element, item, code));
  }
  if (type === 'int64' || type === 'timestamp') {
    if (typeof value === 'bigint') return value;
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
      throw new FeaturelogError(code, `expected a safe integer for ${type}, got ${String(value)}`);
    }
    return BigInt(value);
  }
  return value;
}

/** The inverse of toParquetValue. */
export function fromParquetValue(type: ValueType, value: unknown): FeatureValue {
  if (value === null || value === undefined) return null;
  const element = listElementType(type);
  if (element !== undefined) return (value as unknown[]).map((item) => fromParquetValue(element, item));
  if (typeof value === 'bigint') return Number(value);
  return value as FeatureValue;
}
