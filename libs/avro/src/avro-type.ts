import { createHash } from 'node:crypto';
import { Type, types, type Schema } from 'avsc';
import { FeaturelogError } from '@featurelog/domain';

/** An Avro schema: its JSON text, a type name, a union (array) or a complex type (object). */
export type AvroSchema = string | object;

/** The cursor avsc hands to a type's reader and writer. */
interface Tap {
  buf: Buffer;
  pos: number;
}

const TWO_POW_6 = 64;
const TWO_POW_7 = 128;

/**
 * Avro longs as JavaScript numbers over the whole safe-integer range.
 *
 * avsc's own long refuses |n| > 2^53 - 2 and computes the zig-zag value `2n` in floating point,
 * which cannot hold `2^54 - 3` (the code of -(2^53 - 1)). This type splits off the low six bits
 * before the zig-zag shift, so every intermediate stays below 2^53 and every safe integer
 * (int64 features, timestamps in microseconds) round-trips exactly; anything outside the safe
 * range is refused on write and fails decoding on read, never silently rounded.
 * It keeps the type name `long`, so schema resolution (int → long promotion) works unchanged.
 */
class SafeLongType extends (types.LongType as unknown as new () => Type) {
  _check(value: unknown, _flags: unknown, hook?: (value: unknown, type: Type) => void): boolean {
    const valid = Number.isSafeInteger(value);
    if (!valid && hook) hook(value, this);
    return valid;
  }

  /** number | bigint: WideLongType reads beyond the safe integers; this type never returns a bigint. */
  _read(tap: Tap): number | bigint {
    const buf = tap.buf;
    let pos = tap.pos;
    let byte = buf[pos++]!;
    // Up to four bytes (28 bits) fit int32 arithmetic: the common case for counts and ids.
    let code = byte & 0x7f;
    for (let shift = 7; byte & 0x80 && shift < 28; shift += 7) {
      byte = buf[pos++]!;
      code |= (byte & 0x7f) << shift;
    }
    if (!(byte & 0x80)) {
      tap.pos = pos;
      return (code >>> 1) ^ -(code & 1);
    }
    // Longer codes (timestamps in microseconds need eight bytes) go on in floating point, on the
    // magnitude without its sign bit so that every partial sum stays an exact integer below 2^53.
    const negative = (code & 1) === 1;
    let magnitude = code >>> 1;
    let scale = 2 ** 27;
    // Ten bytes is the longest valid long; a longer run is garbage.
    for (let length = 4; byte & 0x80 && length < 10; length++) {
      byte = buf[pos++]!;
      magnitude += (byte & 0x7f) * scale;
      scale *= TWO_POW_7;
    }
    tap.pos = pos;
    if (byte & 0x80) throw new Error('long encoded on more than ten bytes');
    if (magnitude > (negative ? Number.MAX_SAFE_INTEGER - 1 : Number.MAX_SAFE_INTEGER)) {
      throw new Error(`long ${negative ? '-' : ''}${magnitude} is outside the safe integer range`);
    }
    // Zig-zag: odd codes are negative, -(m + 1); m + 1 stays safe by the check above.
    return negative ? -magnitude - 1 : magnitude;
  }

  _write(tap: Tap, value: number): void {
    if (!Number.isSafeInteger(value)) {
      throw new Error(`invalid "long": ${String(value)} (longs must be safe integers)`);
    }
    const buf = tap.buf;
    if (value >= -0x40000000 && value < 0x40000000) {
      // The zig-zag code fits 31 bits: integer arithmetic, the common case.
      let code = value >= 0 ? value << 1 : (~value << 1) | 1;
      while (code > 0x7f) {
        buf[tap.pos++] = (code & 0x7f) | 0x80;
        code >>>= 7;
      }
      buf[tap.pos++] = code;
      return;
    }
    // Zig-zag code is 2m (value m >= 0) or 2m + 1 (value -(m + 1)); emit its low 7 bits from m's low 6.
    const negative = value < 0;
    const magnitude = negative ? -value - 1 : value;
    let rest = Math.floor(magnitude / TWO_POW_6);
    let byte = ((magnitude % TWO_POW_6) << 1) | (negative ? 1 : 0);
    while (rest > 0) {
      buf[tap.pos++] = byte | 0x80;
      byte = rest % TWO_POW_7;
      rest = Math.floor(rest / TWO_POW_7);
    }
    buf[tap.pos++] = byte;
  }
}

/**
 * Longs over their whole range: safe integers as numbers (as SafeLongType), the others as BigInt, for
 * records written by others that featurelog reads only in part. Debezium's envelopes carry `ts_ns`
 * (about 1.7e18) and a PostgreSQL bigint column may hold any long: such a value must not make the whole
 * record unreadable; a column the view reads is still checked against the view's type (a BigInt is no
 * int64 feature value).
 */
class WideLongType extends SafeLongType {
  override _check(value: unknown, flags: unknown, hook?: (value: unknown, type: Type) => void): boolean {
    if (typeof value !== 'bigint') return super._check(value, flags, hook);
    const valid = value >= -(2n ** 63n) && value < 2n ** 63n;
    if (!valid && hook) hook(value, this);
    return valid;
  }

  override _read(tap: Tap): number | bigint {
    const buf = tap.buf;
    // Up to seven bytes (49 bits of zig-zag code) is a safe integer: SafeLongType reads it. Longer codes
    // are read here, without an exception per value (Debezium writes two ts_ns per record).
    let length = 1;
    while (length < 8 && (buf[tap.pos + length - 1] ?? 0) & 0x80) length++;
    if (length < 8) return super._read(tap);
    let code = 0n;
    let shift = 0n;
    let byte: number;
    do {
      byte = buf[tap.pos++] ?? 0;
      code |= BigInt(byte & 0x7f) << shift;
      shift += 7n;
    } while (byte & 0x80 && shift < 70n);
    if (byte & 0x80) throw new Error('long encoded on more than ten bytes');
    const value = (code >> 1n) ^ -(code & 1n);
    return value >= -BigInt(Number.MAX_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(value)
      : value;
  }

  override _write(tap: Tap, value: number | bigint): void {
    if (typeof value !== 'bigint') return super._write(tap, value);
    if (value < -(2n ** 63n) || value >= 2n ** 63n) throw new Error(`invalid "long": ${value} is outside 64 bits`);
    let code = value >= 0n ? value << 1n : ((-value - 1n) << 1n) | 1n;
    while (code > 0x7fn) {
      tap.buf[tap.pos++] = Number(code & 0x7fn) | 0x80;
      code >>= 7n;
    }
    tap.buf[tap.pos++] = Number(code);
  }
}

function isLongSchema(schema: unknown): boolean {
  return (
    schema === 'long' ||
    (typeof schema === 'object' && schema !== null && (schema as { type?: unknown }).type === 'long')
  );
}

/** avsc builds records with a generated constructor; rows in the domain are plain objects. */
function usePlainRecords(type: Type, seen = new Set<Type>()): void {
  if (seen.has(type)) return;
  seen.add(type);
  const anyType = type as Type & {
    recordConstructor?: { prototype: object };
    fields?: { type: Type }[];
    itemsType?: Type;
    valuesType?: Type;
    types?: Type[];
  };
  if (anyType.typeName === 'record' || anyType.typeName === 'error') {
    anyType.recordConstructor!.prototype = Object.prototype;
    for (const field of anyType.fields ?? []) usePlainRecords(field.type, seen);
  }
  if (anyType.itemsType) usePlainRecords(anyType.itemsType, seen);
  if (anyType.valuesType) usePlainRecords(anyType.valuesType, seen);
  for (const branch of anyType.types ?? []) usePlainRecords(branch, seen);
}

export interface AvroTypeOptions {
  /** Longs beyond the safe-integer range read as BigInt instead of failing the record (WideLongType). */
  wideLongs?: boolean;
}

/**
 * Parses a schema into an avsc type the way featurelog reads and writes data: longs as exact safe
 * integers, records as plain objects, logical types left as their underlying values (timestamps
 * stay epoch microseconds), ambiguous unions wrapped. Throws AVRO_SCHEMA_INVALID.
 */
export function avroType(schema: AvroSchema, { wideLongs = false }: AvroTypeOptions = {}): Type {
  const parsed = parseSchema(schema);
  try {
    const type = Type.forSchema(parsed as Schema, {
      omitRecordMethods: true,
      wrapUnions: 'auto',
      typeHook: (candidate) =>
        isLongSchema(candidate) ? (wideLongs ? new WideLongType() : new SafeLongType()) : undefined,
    });
    usePlainRecords(type);
    return type;
  } catch (error) {
    throw new FeaturelogError('AVRO_SCHEMA_INVALID', `invalid Avro schema: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** Same meaning, same text: object keys sorted, arrays (fields, symbols, union branches) kept in order. */
export function normalizedSchemaText(schema: AvroSchema): string {
  return JSON.stringify(sortKeys(parseSchema(schema)));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) out[key] = sortKeys((value as Record<string, unknown>)[key]);
    return out;
  }
  return value;
}

/** SHA-256 of the normalized text: identifies a schema exactly, docs and defaults included. */
export function schemaFingerprint(schema: AvroSchema): string {
  return createHash('sha256').update(normalizedSchemaText(schema)).digest('hex');
}

/** The parsed JSON form of a schema given as text or as JSON. */
export function parseSchema(schema: AvroSchema): AvroSchema {
  if (typeof schema !== 'string' || !/^\s*[[{"]/.test(schema)) return schema;
  try {
    return JSON.parse(schema) as AvroSchema;
  } catch (error) {
    throw new FeaturelogError('AVRO_SCHEMA_INVALID', `schema is not valid JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
}
