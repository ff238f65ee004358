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

/** Built on each call, so that no two columns share a type object. */
const ARROW_SCALAR_TYPES: Record<ScalarType, () => DataType> = {
  bool: () => new Bool(),
  int32: () => new Int32(),
  int64: () => new Int64(),
  float32: () => new Float32(),
  float64: () => new Float64(),
  string: () => new Utf8(),
  bytes: () => new Binary(),
  timestamp: () => new TimestampMicrosecond('UTC'),
};

const arrowScalarType = (type: ScalarType): DataType => ARROW_SCALAR_TYPES[type]();

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
    // 64-bit values given as numbers are written as two 32-bit halves: no BigInt per value.
    const words = wide ? new Int32Array(numbers.buffer) : undefined;
    const validity = new Uint8Array((length + 7) >> 3);
    let nulls = 0;
    for (let i = 0; i < length; i++) {
      const value = values[i];
      if (value === null || value === undefined) {
        nulls++;
        continue;
      }
      if (words === undefined) numbers[i] = value as never;
      else if (typeof value === 'bigint') numbers[i] = value as never;
      else {
        const whole = Math.trunc(Number(value));
        // Floor division keeps the sign in the high word (two's complement, little-endian).
        const high = Math.floor(whole / 4294967296);
        words[2 * i] = whole - high * 4294967296;
        words[2 * i + 1] = high;
      }
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
  if (element !== undefined) return listData(arrowType as List, element, values, length);
  if (type === 'bool') return boolData(values, length);
  return variableWidthData(arrowType, type === 'string', values, length);
}

/**
 * Validity bitmap of `values` (null and undefined are null), or undefined when none is null; with the
 * null count.
 */
function validityOf(
  values: ArrayLike<unknown>,
  length: number,
  valid = (value: unknown) => value !== null && value !== undefined,
) {
  const bitmap = new Uint8Array((length + 7) >> 3);
  let nulls = 0;
  for (let i = 0; i < length; i++) {
    if (valid(values[i])) bitmap[i >> 3]! |= 1 << (i & 7);
    else nulls++;
  }
  return { nulls, ...(nulls > 0 ? { nullBitmap: bitmap } : {}) };
}

function boolData(values: ArrayLike<unknown>, length: number): Data {
  const bits = new Uint8Array((length + 7) >> 3);
  for (let i = 0; i < length; i++) if (values[i] === true) bits[i >> 3]! |= 1 << (i & 7);
  const { nulls, nullBitmap } = validityOf(values, length);
  return makeData({ type: new Bool(), length, nullCount: nulls, nullBitmap, data: bits } as never);
}

/**
 * utf8 (text) or binary (Uint8Array) values into one buffer with offsets: Arrow's builders take a value at a
 * time through several calls, twenty times slower than this over a column of short strings.
 */
function variableWidthData(type: DataType, text: boolean, values: ArrayLike<unknown>, length: number): Data {
  const valid = text
    ? (value: unknown) => value !== null && value !== undefined
    : (value: unknown) => value instanceof Uint8Array;
  const strings = text ? new Array<string>(length) : undefined;
  let total = 0;
  for (let i = 0; i < length; i++) {
    const value = values[i];
    if (!valid(value)) continue;
    if (strings !== undefined) {
      // Anything that is not text (an extra column's stray value) is written as its text.
      const string = typeof value === 'string' ? value : textOf(value);
      strings[i] = string;
      total += Buffer.byteLength(string);
    } else total += (value as Uint8Array).length;
  }
  const bytes = Buffer.allocUnsafe(total);
  const offsets = new Int32Array(length + 1);
  let at = 0;
  for (let i = 0; i < length; i++) {
    const value = values[i];
    if (valid(value)) {
      if (strings !== undefined) at += bytes.write(strings[i]!, at);
      else {
        bytes.set(value as Uint8Array, at);
        at += (value as Uint8Array).length;
      }
    }
    offsets[i + 1] = at;
  }
  const { nulls, nullBitmap } = validityOf(values, length, valid);
  return makeData({
    type,
    length,
    nullCount: nulls,
    nullBitmap,
    valueOffsets: offsets,
    data: new Uint8Array(bytes.buffer, bytes.byteOffset, total),
  } as never);
}

/** A list column: offsets, validity (anything not an array is null), and its elements as one child column. */
function listData(type: List, element: ScalarType, lists: ArrayLike<unknown>, length: number): Data {
  const offsets = new Int32Array(length + 1);
  let total = 0;
  for (let i = 0; i < length; i++) {
    const list = lists[i];
    if (Array.isArray(list)) total += list.length;
    offsets[i + 1] = total;
  }
  const flat = new Array<unknown>(total);
  let at = 0;
  for (let i = 0; i < length; i++) {
    const list = lists[i];
    if (Array.isArray(list)) for (const item of list as unknown[]) flat[at++] = item;
  }
  const { nulls, nullBitmap } = validityOf(lists, length, Array.isArray);
  return makeData({
    type,
    length,
    nullCount: nulls,
    nullBitmap,
    valueOffsets: offsets,
    child: arrowData(element, flat, total),
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
