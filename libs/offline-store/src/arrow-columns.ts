import {
  Binary,
  Bool,
  type Data,
  type DataType,
  Field,
  Float32,
  Float64,
  Int32,
  Int64,
  List,
  makeData,
  RecordBatch,
  Schema,
  Struct,
  TimeUnit,
  TimestampMicrosecond,
  Type,
  Utf8,
  vectorFromArray,
  type Vector,
} from 'apache-arrow';
import { listElementType, type ScalarType, type ValueType } from '@featurelog/domain';

/**
 * The Arrow type of a training-set column of `type`: what pyarrow reads the export's Parquet column as
 * (TIMESTAMP(MICROS, UTC) → timestamp[us, tz=UTC], a three-level LIST → list<element: T>), so that an
 * Arrow result and the Parquet file of the same export have the same schema.
 */
export function arrowTypeOf(type: ValueType): DataType {
  const element = listElementType(type);
  if (element !== undefined) return new List(new Field('element', arrowScalarType(element), true));
  return arrowScalarType(type as ScalarType);
}

function arrowScalarType(type: ScalarType): DataType {
  switch (type) {
    case 'bool':
      return new Bool();
    case 'int32':
      return new Int32();
    case 'int64':
      return new Int64();
    case 'float32':
      return new Float32();
    case 'float64':
      return new Float64();
    case 'string':
      return new Utf8();
    case 'bytes':
      return new Binary();
    case 'timestamp':
      return new TimestampMicrosecond('UTC');
  }
}

/**
 * The domain type an Arrow column's values take once read (see {@link arrowValues}); undefined for what
 * has none (structs, maps, decimals…): such a column is kept as text.
 */
export function domainTypeOfArrow(type: DataType): ValueType | undefined {
  switch (type.typeId) {
    case Type.Dictionary:
      return domainTypeOfArrow((type as unknown as { dictionary: DataType }).dictionary);
    case Type.List:
    case Type.FixedSizeList: {
      const child = (type as unknown as { children: Field[] }).children[0];
      const inner = child === undefined ? undefined : domainTypeOfArrow(child.type);
      return inner === undefined || inner.startsWith('list<')
        ? undefined
        : (`list<${inner as ScalarType}>` as ValueType);
    }
    default:
      return scalarDomainType(type);
  }
}

function scalarDomainType(type: DataType): ScalarType | undefined {
  if (type.typeId === Type.Bool) return 'bool';
  if (type.typeId === Type.Int) {
    const { bitWidth, isSigned } = type as unknown as { bitWidth: number; isSigned: boolean };
    return bitWidth < 32 || (bitWidth === 32 && isSigned) ? 'int32' : 'int64';
  }
  if (type.typeId === Type.Float) {
    return (type as unknown as { precision: number }).precision === 2 ? 'float64' : 'float32';
  }
  if (type.typeId === Type.Utf8 || type.typeId === Type.LargeUtf8) return 'string';
  if (type.typeId === Type.Binary || type.typeId === Type.LargeBinary || type.typeId === Type.FixedSizeBinary) {
    return 'bytes';
  }
  if (type.typeId === Type.Timestamp || type.typeId === Type.Date) return 'timestamp';
  return undefined;
}

const MICROS_PER_UNIT: Record<TimeUnit, bigint> = {
  [TimeUnit.SECOND]: 1_000_000n,
  [TimeUnit.MILLISECOND]: 1_000n,
  [TimeUnit.MICROSECOND]: 1n,
  [TimeUnit.NANOSECOND]: 0n,
};

/**
 * An Arrow column's values in the domain's representation (timestamps and dates as epoch µs numbers —
 * a timestamp without a zone is taken as UTC, as the export takes naive timestamps; 64-bit integers as
 * numbers when safe, else bigint; bytes as Uint8Array; lists as arrays; null for null). Columns with no
 * domain type give their values as text (JSON for structured ones).
 */
export function arrowValues(vector: Vector): unknown[] {
  const type = vector.type as DataType;
  const out = new Array<unknown>(vector.length);
  let row = 0;
  for (const data of vector.data as Data[]) {
    const convert = valueConverter(type);
    const values = (data as unknown as { values: ArrayLike<unknown> }).values;
    const direct =
      type.typeId === Type.Timestamp ||
      (type.typeId === Type.Int && (type as unknown as { bitWidth: number }).bitWidth === 64);
    for (let i = 0; i < data.length; i++, row++) {
      if (!data.getValid(i)) {
        out[row] = null;
        continue;
      }
      // 64-bit values straight from the buffer: Vector.get of a timestamp rounds to milliseconds.
      out[row] = direct ? convert(values[i]) : convert(vector.get(row));
    }
  }
  return out;
}

function valueConverter(type: DataType): (value: unknown) => unknown {
  switch (type.typeId) {
    case Type.Timestamp: {
      const unit = (type as unknown as { unit: TimeUnit }).unit;
      const factor = MICROS_PER_UNIT[unit];
      // Floor, not round: a nanosecond timestamp never moves into its own future.
      if (factor === 0n)
        return (nanos) =>
          Number((nanos as bigint) >= 0n ? (nanos as bigint) / 1000n : ((nanos as bigint) - 999n) / 1000n);
      return (value) => Number((value as bigint) * factor);
    }
    case Type.Date:
      // Arrow reads dates (day or millisecond) as epoch milliseconds.
      return (value) => (value instanceof Date ? value.getTime() : Number(value)) * 1000;
    case Type.Int:
      return (value) =>
        typeof value === 'bigint'
          ? value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
            ? Number(value)
            : value
          : value;
    case Type.Float:
    case Type.Bool:
    case Type.Utf8:
    case Type.LargeUtf8:
      return (value) => value;
    case Type.Binary:
    case Type.LargeBinary:
    case Type.FixedSizeBinary:
      return (value) => (value instanceof Uint8Array ? value : new Uint8Array(value as ArrayBuffer));
    case Type.Dictionary:
      return valueConverter((type as unknown as { dictionary: DataType }).dictionary);
    case Type.List:
    case Type.FixedSizeList: {
      return (value) => arrowValues(value as Vector);
    }
    default:
      return (value) => (value === null || value === undefined ? null : textOf(value));
  }
}

function textOf(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && 'toJSON' in value) {
    return JSON.stringify(value, (_key, item: unknown) => (typeof item === 'bigint' ? item.toString() : item));
  }
  return String(value);
}

const FIXED_WIDTH = {
  int32: Int32Array,
  float32: Float32Array,
  float64: Float64Array,
  int64: BigInt64Array,
  timestamp: BigInt64Array,
} as const;

/** A training-set column as Arrow data: `values` in the domain representation (timestamps as epoch µs). */
export function arrowData(type: ValueType, values: ArrayLike<unknown>, length: number): Data {
  const arrowType = arrowTypeOf(type);
  if (Object.hasOwn(FIXED_WIDTH, type)) {
    const wide = type === 'int64' || type === 'timestamp';
    if (wide && values instanceof BigInt64Array && values.length === length) {
      return makeData({ type: arrowType as Int64, length, nullCount: 0, data: values } as never);
    }
    const numbers = new FIXED_WIDTH[type as keyof typeof FIXED_WIDTH](length);
    const validity = new Uint8Array((length + 7) >> 3);
    let nulls = 0;
    for (let i = 0; i < length; i++) {
      const value = values[i];
      if (value === null || value === undefined) {
        nulls++;
        continue;
      }
      numbers[i] = wide
        ? typeof value === 'bigint'
          ? value
          : BigInt(Math.trunc(Number(value)))
        : (Number(value) as never);
      validity[i >> 3]! |= 1 << (i & 7);
    }
    return makeData({
      type: arrowType as Int64,
      length,
      nullCount: nulls,
      ...(nulls > 0 ? { nullBitmap: validity } : {}),
      data: numbers,
    } as never);
  }
  const element = listElementType(type);
  const items = new Array<unknown>(length);
  for (let i = 0; i < length; i++) {
    const value = values[i];
    items[i] = value === undefined ? null : typeof value === 'bigint' && type === 'float64' ? Number(value) : value;
  }
  if (element === 'timestamp' || element === 'int64') {
    return listOf64Bits(arrowType as List, element, items as Array<unknown[] | null>);
  }
  return vectorFromArray(items, arrowType).data[0]!;
}

/** A list<int64|timestamp> column: vectorFromArray would not take epoch µs numbers as 64-bit values. */
function listOf64Bits(type: List, element: 'int64' | 'timestamp', lists: Array<unknown[] | null>): Data {
  const offsets = new Int32Array(lists.length + 1);
  const validity = new Uint8Array((lists.length + 7) >> 3);
  let total = 0;
  let nulls = 0;
  for (let i = 0; i < lists.length; i++) {
    const list = lists[i];
    if (list === null || !Array.isArray(list)) nulls++;
    else {
      validity[i >> 3]! |= 1 << (i & 7);
      total += list.length;
    }
    offsets[i + 1] = total;
  }
  const flat = new Array<unknown>(total);
  let at = 0;
  for (const list of lists) if (Array.isArray(list)) for (const item of list) flat[at++] = item;
  const child = arrowData(element, flat, total);
  return makeData({
    type,
    length: lists.length,
    nullCount: nulls,
    ...(nulls > 0 ? { nullBitmap: validity } : {}),
    valueOffsets: offsets,
    child,
  } as never);
}

/** A record batch of `columns` (name, type, values in the domain representation), `length` rows each. */
export function arrowRecordBatch(
  columns: ReadonlyArray<{ name: string; type: ValueType; values: ArrayLike<unknown> }>,
  length: number,
): RecordBatch {
  const schema = arrowSchemaOf(columns);
  const children = columns.map((column) => arrowData(column.type, column.values, length));
  return new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length, nullCount: 0, children }));
}

/** The Arrow schema of training-set columns: every column nullable, as in the Parquet export. */
export function arrowSchemaOf(columns: ReadonlyArray<{ name: string; type: ValueType }>): Schema {
  return new Schema(columns.map((column) => new Field(column.name, arrowTypeOf(column.type), true)));
}
