import { listElementType, type FeatureValue, type ValueType } from '@featurelog/domain';
import { decodeStoredValue } from '@featurelog/online-store';
import type { JsonWriter } from './json-writer';

/** Writes one feature value as JSON text. */
export type ValueEncoder = (value: FeatureValue | undefined) => string;

/**
 * JSON forms of feature values, chosen once per column from its type, in the units a reader expects:
 * numbers as numbers, float32 as the shortest decimal that reads back as the same float32 (4.9, not
 * the double 4.900000095367432), timestamps as RFC 3339 UTC strings exactly like `event_timestamps`
 * (timestampJson), bytes as base64 strings, lists as arrays, and the floats JSON cannot hold (NaN,
 * ±Infinity) as the strings "NaN", "Infinity", "-Infinity" rather than JSON.stringify's silent null.
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
      return (value) => (value === null || value === undefined ? 'null' : String(value));
    case 'timestamp':
      return (value) => (value === null || value === undefined ? 'null' : timestampValueJson(value as number));
    case 'float32':
      return (value) => (value === null || value === undefined ? 'null' : float32Json(value as number));
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
  const element = listElementType(type);
  // Their elements are not written as stored (float32 is shortened, a timestamp becomes text).
  if (element === 'float32' || element === 'timestamp') return slow;
  if (element !== undefined) {
    return (stored) => (stored === '' ? 'null' : stored.charCodeAt(0) === 0x5b /* [ */ ? stored : slow(stored));
  }
  switch (type) {
    case 'int32':
    case 'int64':
    case 'float64':
      return (stored) => (stored === '' ? 'null' : isPlainNumber(stored) ? stored : slow(stored));
    case 'float32':
      return (stored) => (stored === '' ? 'null' : isPlainNumber(stored) ? float32StoredText(stored) : slow(stored));
    case 'timestamp':
      return (stored) =>
        stored === '' ? 'null' : isPlainNumber(stored) ? timestampValueJson(Number(stored)) : slow(stored);
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

/** Writes one feature value, given in its stored text form, as JSON into a writer. */
export type StoredValueWriter = (out: JsonWriter, stored: string) => void;

/**
 * storedValueEncoderFor writing into a JsonWriter instead of returning text: the same bytes (a unit
 * test holds it to that), without a string per value where the stored text already is the JSON
 * (numbers, booleans, plain lists, bytes' base64) or can be escaped straight into the buffer
 * (strings, timestamps).
 */
export function storedValueWriterFor(type: ValueType): StoredValueWriter {
  const encode = storedValueEncoderFor(type);
  const fallback: StoredValueWriter = (out, stored) => out.raw(encode(stored));
  if (listElementType(type) !== undefined) return fallback;
  switch (type) {
    case 'int32':
    case 'int64':
    case 'float64':
      return (out, stored) => (isPlainNumber(stored) ? out.raw(stored) : fallback(out, stored));
    case 'float32':
      return (out, stored) => (isPlainNumber(stored) ? writeFloat32Stored(out, stored) : fallback(out, stored));
    case 'timestamp':
      return (out, stored) => {
        if (!isPlainNumber(stored)) return fallback(out, stored);
        const micros = Number(stored);
        if (Number.isSafeInteger(micros)) writeTimestampJson(out, micros);
        else fallback(out, stored);
      };
    case 'bool':
      return (out, stored) => out.raw(stored === 't' ? 'true' : stored === 'f' ? 'false' : encode(stored));
    case 'string':
      return (out, stored) =>
        stored !== '' && stored.charCodeAt(0) === 0x73 /* s */ ? out.string(stored, 1) : fallback(out, stored);
    case 'bytes':
      return (out, stored) => {
        if (stored === '' || stored.charCodeAt(0) !== 0x62 /* b */) return fallback(out, stored);
        // base64 needs no escaping.
        out.string(stored, 1);
      };
    default:
      return fallback;
  }
}

/** Writes one feature value, given as its stored text's UTF-8 bytes (`source` from `start` to `end`, not empty), as JSON into a writer. */
export type StoredBytesWriter = (out: JsonWriter, source: Buffer, start: number, end: number) => void;

/**
 * storedValueWriterFor over the stored text's bytes, as the store's read left them: the same bytes
 * out (a unit test holds it to that), without a string per value where the text's bytes already are
 * the JSON (integers, doubles, float32 of at most 6 significant digits, booleans) or can be escaped
 * straight into the buffer (strings, bytes' base64) or read as digits (timestamps). Anything else
 * (lists, NaN, -0, exponents, a form of another kind than the type's) makes the text and takes
 * storedValueWriterFor.
 */
export function storedBytesWriterFor(type: ValueType): StoredBytesWriter {
  const writeText = storedValueWriterFor(type);
  const fallback: StoredBytesWriter = (out, source, start, end) => writeText(out, source.toString('utf8', start, end));
  if (listElementType(type) !== undefined) return fallback;
  switch (type) {
    case 'int32':
    case 'int64':
    case 'float64':
      return (out, source, start, end) =>
        isPlainNumberAt(source, start, end) ? out.utf8(source, start, end) : fallback(out, source, start, end);
    case 'float32':
      // A plain decimal of at most 6 significant digits is its own answer (float32StoredText), when its
      // float32 is normal or zero: without an exponent and in 24 characters, it is. Longer ones need the number.
      return (out, source, start, end) =>
        end - start <= 24 && isPlainNumberAt(source, start, end) && decimalDigitsAt(source, start, end) <= 6
          ? out.utf8(source, start, end)
          : fallback(out, source, start, end);
    case 'timestamp':
      return (out, source, start, end) => {
        const micros = integerAt(source, start, end);
        if (micros === undefined) fallback(out, source, start, end);
        else writeTimestampJson(out, micros);
      };
    case 'bool':
      return (out, source, start, end) => {
        const flag = end - start === 1 ? source[start] : undefined;
        if (flag === 0x74 /* t */) out.raw('true');
        else if (flag === 0x66 /* f */) out.raw('false');
        else fallback(out, source, start, end);
      };
    case 'string':
      return (out, source, start, end) =>
        source[start] === 0x73 /* s */ ? out.stringOfUtf8(source, start + 1, end) : fallback(out, source, start, end);
    case 'bytes':
      return (out, source, start, end) =>
        source[start] === 0x62 /* b */ ? out.stringOfUtf8(source, start + 1, end) : fallback(out, source, start, end);
    default:
      return fallback;
  }
}

/** isPlainNumber of the text in `source` from `start` to `end`. */
function isPlainNumberAt(source: Buffer, start: number, end: number): boolean {
  const first = source[start]!;
  if (first >= 0x30 && first <= 0x39) return true;
  if (first !== 0x2d /* - */ || end - start < 2) return false;
  const second = source[start + 1]!;
  if (second < 0x30 || second > 0x39) return false;
  return !(second === 0x30 && end - start === 2); // `-0`
}

/**
 * Significant digits of a text that is `-?[0-9]+(.[0-9]*)?` (no exponent), which Number reads as a
 * finite double; 99 for any other text.
 */
function decimalDigitsAt(source: Buffer, start: number, end: number): number {
  let i = start;
  if (source[i] === 0x2d /* - */) i++;
  const first = source[i];
  if (first === undefined || i >= end || first < 0x30 || first > 0x39) return 99;
  let count = 0;
  let leading = true;
  let zeros = 0;
  let point = false;
  for (; i < end; i++) {
    const code = source[i]!;
    if (code === 0x2e /* . */ && !point) {
      point = true;
      continue;
    }
    if (code < 0x30 || code > 0x39) return 99;
    if (code === 0x30) {
      if (!leading) zeros++;
      continue;
    }
    leading = false;
    count += zeros + 1;
    zeros = 0;
  }
  return count;
}

/**
 * The safe integer a text `-?[0-9]{1,16}` holds, exactly; undefined for any other text or a larger
 * integer. (Up to 15 digits every step is exact; a 16th that passes 2^53 rounds to 2^53 or more.)
 */
function integerAt(source: Buffer, start: number, end: number): number | undefined {
  let i = start;
  const negative = source[i] === 0x2d; /* - */
  if (negative) i++;
  if (i >= end || end - i > 16) return undefined;
  let n = 0;
  for (; i < end; i++) {
    const digit = source[i]! - 0x30;
    if (digit < 0 || digit > 9) return undefined;
    n = n * 10 + digit;
  }
  if (n > Number.MAX_SAFE_INTEGER) return undefined;
  return negative ? -n : n;
}

/** A stored number whose text is its JSON: a digit first, or `-` and a digit, and not `-0`. */
function isPlainNumber(stored: string): boolean {
  const first = stored.charCodeAt(0);
  if (first >= 0x30 && first <= 0x39) return true;
  if (first !== 0x2d /* - */ || stored === '-0') return false;
  const second = stored.charCodeAt(1);
  return second >= 0x30 && second <= 0x39;
}

const float32Bits = new Float32Array(1);
const float32Word = new Uint32Array(float32Bits.buffer);

/** The smallest normal float32: below it precision thins out and FLT_DIG no longer holds. */
const FLOAT32_MIN_NORMAL = 2 ** -126;

/**
 * The shortest decimal that, read as a double and rounded to float32 (what `Math.fround(Number(text))`
 * and a JSON reader casting to float32 do), gives back the float32 `single`; of two equally short, the
 * nearer. Written as JavaScript writes numbers (`4.9`, `1e-7`, `3.4028235e+38`); -0 is `0`, as
 * String(-0) is. `single` must be a finite float32 (Math.fround of something); `shortest` is its
 * String when the caller has it already.
 *
 * Why it is this cheap: the double's own shortest text (String) also reads back as the float32, and
 * no two decimals of at most 6 significant digits round to the same normal float32 (FLT_DIG), so a
 * String of at most 6 digits already is the answer. Otherwise the answer has 6 to 9 digits (1 to 9
 * for a subnormal): the nearest decimal of p digits is tried for each p in turn (9 always reads
 * back). The only interval not centred on the value is at a power of two (the float32 below is half
 * as far as the one above), where a p-digit decimal above can read back while the nearest, below,
 * does not: there the next p-digit decimal away from zero is tried too.
 */
export function float32Text(single: number, shortest = String(single)): string {
  const magnitude = Math.abs(single);
  if (single === 0 || (magnitude >= FLOAT32_MIN_NORMAL && significantDigits(shortest) <= 6)) return shortest;
  float32Bits[0] = single;
  const powerOfTwo = (float32Word[0]! & 0x7f_ffff) === 0;
  for (let digits = magnitude >= FLOAT32_MIN_NORMAL ? 6 : 1; digits < 9; digits++) {
    if (nearestReadingBack(single, magnitude, digits, powerOfTwo)) {
      return found.text ?? decimalText(found.negative, found.mantissa, found.shift);
    }
  }
  return String(Number(single.toExponential(8)));
}

/** float32Text written into a writer: the same bytes, with no string made on the common path. */
function writeFloat32Text(out: JsonWriter, single: number, shortest: string): void {
  const magnitude = Math.abs(single);
  if (single === 0 || (magnitude >= FLOAT32_MIN_NORMAL && significantDigits(shortest) <= 6)) return out.raw(shortest);
  float32Bits[0] = single;
  const powerOfTwo = (float32Word[0]! & 0x7f_ffff) === 0;
  for (let digits = magnitude >= FLOAT32_MIN_NORMAL ? 6 : 1; digits < 9; digits++) {
    if (nearestReadingBack(single, magnitude, digits, powerOfTwo)) {
      if (found.text !== undefined) out.raw(found.text);
      else writeDecimal(out, found.negative, found.mantissa, found.shift);
      return;
    }
  }
  out.raw(String(Number(single.toExponential(8))));
}

/** What nearestReadingBack found: a text (its rare path), or `mantissa × 10^-shift` with a sign. */
const found = { text: undefined as string | undefined, negative: false, mantissa: 0, shift: 0 };

/** Exact powers of ten: 10^22 is the last a double holds exactly. */
const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);

/**
 * Whether the nearest `digits`-digit decimal to `single` (or at a power of two, the next one away
 * from zero) reads back as `single`; if so it is left in `found` (no string made on the common path). Mostly arithmetic: the value times
 * an exact power of ten, rounded, divided again, which IEEE arithmetic rounds exactly as parsing the
 * decimal would. Where that product is too near a half to trust its rounding, or the power of ten is
 * not exact, the decimal comes from toExponential instead.
 */
function nearestReadingBack(single: number, magnitude: number, digits: number, powerOfTwo: boolean): boolean {
  let exponent = Math.floor(Math.log10(magnitude));
  let shift = digits - 1 - exponent;
  let scaled = NaN;
  if (shift >= -22 && shift <= 22) {
    scaled = shift >= 0 ? magnitude * POW10[shift]! : magnitude / POW10[-shift]!;
    // log10 may be one off next to a power of ten.
    if (scaled >= POW10[digits]! || scaled < POW10[digits - 1]!) {
      exponent += scaled >= POW10[digits]! ? 1 : -1;
      shift = digits - 1 - exponent;
      scaled =
        shift >= -22 && shift <= 22 ? (shift >= 0 ? magnitude * POW10[shift]! : magnitude / POW10[-shift]!) : NaN;
    }
  }
  if (Number.isNaN(scaled) || Math.abs(scaled - Math.floor(scaled) - 0.5) < 1e-6) {
    const nearest = single.toExponential(digits - 1);
    const read = Number(nearest);
    if (Math.fround(read) === single) return foundText(String(read));
    if (!powerOfTwo) return false;
    const away = Number(nextAwayFromZero(nearest));
    return Math.fround(away) === single && foundText(String(away));
  }
  const negative = single < 0;
  const mantissa = Math.round(scaled);
  if (Math.fround(unscale(mantissa, shift, negative)) === single) return foundDecimal(negative, mantissa, shift);
  // The nearest was below in magnitude (rounded down): at a power of two the one above may still read back.
  if (!powerOfTwo || mantissa > scaled) return false;
  return Math.fround(unscale(mantissa + 1, shift, negative)) === single && foundDecimal(negative, mantissa + 1, shift);
}

function unscale(mantissa: number, shift: number, negative: boolean): number {
  const read = shift >= 0 ? mantissa / POW10[shift]! : mantissa * POW10[-shift]!;
  return negative ? -read : read;
}

function foundText(text: string): true {
  found.text = text;
  return true;
}

function foundDecimal(negative: boolean, mantissa: number, shift: number): true {
  found.text = undefined;
  found.negative = negative;
  found.mantissa = mantissa;
  found.shift = shift;
  return true;
}

/** The decimal digits of a mantissa, most significant first (a float32's have at most 9). */
const mantissaDigits = new Uint8Array(24);

function writeMantissaDigits(out: JsonWriter, from: number, to: number): void {
  for (let i = from; i < to; i++) out.byte(mantissaDigits[i]!);
}

/** decimalText written into a writer, byte by byte. */
function writeDecimal(out: JsonWriter, negative: boolean, mantissa: number, shift: number): void {
  while (mantissa % 10 === 0 && mantissa !== 0) {
    mantissa /= 10;
    shift--;
  }
  let k = 0;
  for (let rest = mantissa; k === 0 || rest > 0; k++) {
    const next = Math.floor(rest / 10);
    mantissaDigits[23 - k] = 0x30 + rest - next * 10;
    rest = next;
  }
  const first = 24 - k;
  const n = k - shift; // the value is 0.digits × 10^n
  if (negative) out.byte(0x2d);
  if (k <= n && n <= 21) {
    writeMantissaDigits(out, first + 0, first + k);
    for (let i = k; i < n; i++) out.byte(0x30);
  } else if (0 < n && n <= 21) {
    writeMantissaDigits(out, first + 0, first + n);
    out.byte(0x2e);
    writeMantissaDigits(out, first + n, first + k);
  } else if (-6 < n && n <= 0) {
    out.byte(0x30);
    out.byte(0x2e);
    for (let i = 0; i < -n; i++) out.byte(0x30);
    writeMantissaDigits(out, first + 0, first + k);
  } else {
    const e = n - 1;
    writeMantissaDigits(out, first + 0, first + 1);
    if (k > 1) {
      out.byte(0x2e);
      writeMantissaDigits(out, first + 1, first + k);
    }
    out.byte(0x65);
    out.byte(e < 0 ? 0x2d : 0x2b);
    const magnitude = Math.abs(e);
    if (magnitude >= 100) out.byte(0x30 + Math.floor(magnitude / 100));
    if (magnitude >= 10) out.byte(0x30 + (Math.floor(magnitude / 10) % 10));
    out.byte(0x30 + (magnitude % 10));
  }
}

/**
 * `mantissa × 10^-shift` written as String writes that number (Number::toString: plain from 1e-7 up
 * to 1e21, else `d.ddde±x`), without String's shortest-digit search: the digits are known already.
 */
function decimalText(negative: boolean, mantissa: number, shift: number): string {
  while (mantissa % 10 === 0 && mantissa !== 0) {
    mantissa /= 10;
    shift--;
  }
  const digits = String(mantissa);
  const k = digits.length;
  const n = k - shift; // the value is 0.digits × 10^n
  let text: string;
  if (k <= n && n <= 21) text = digits + '0'.repeat(n - k);
  else if (0 < n && n <= 21) text = `${digits.slice(0, n)}.${digits.slice(n)}`;
  else if (-6 < n && n <= 0) text = `0.${'0'.repeat(-n)}${digits}`;
  else {
    const e = n - 1;
    text = `${digits[0]}${k > 1 ? `.${digits.slice(1)}` : ''}e${e < 0 ? '-' : '+'}${Math.abs(e)}`;
  }
  return negative ? `-${text}` : text;
}

/** float32Text as JSON: what is not finite as a float32 (NaN, ±Infinity, a double past its range) is a string. */
export function float32Json(value: number): string {
  const single = Math.fround(value);
  return Number.isFinite(single) ? float32Text(single) : `"${String(single)}"`;
}

/**
 * float32Json of a stored number (its double's shortest text). A text of at most 6 significant digits
 * of a normal float32 is kept: it reads back as its float32, and no other decimal that short does.
 */
function float32StoredText(stored: string): string {
  const value = Number(stored);
  const single = Math.fround(value);
  // A float32 read from Avro is stored as its double's String: that text need not be made again.
  if (single === value) return float32Text(single, stored);
  if (significantDigits(stored) <= 6) {
    const magnitude = Math.abs(single);
    if (magnitude >= FLOAT32_MIN_NORMAL && magnitude !== Infinity) return stored;
  }
  return float32Json(value);
}

/** float32StoredText written into a writer. */
function writeFloat32Stored(out: JsonWriter, stored: string): void {
  const value = Number(stored);
  const single = Math.fround(value);
  if (single === value) return writeFloat32Text(out, single, stored);
  if (significantDigits(stored) <= 6) {
    const magnitude = Math.abs(single);
    if (magnitude >= FLOAT32_MIN_NORMAL && magnitude !== Infinity) return out.raw(stored);
  }
  out.raw(float32Json(value));
}

/** Significant digits of a number's JavaScript text (`-0.00120e5` has 3; the exponent is not counted). */
function significantDigits(text: string): number {
  let count = 0;
  let leading = true;
  let zeros = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x65 /* e */) break;
    if (code < 0x30 || code > 0x39) continue;
    if (code === 0x30) {
      if (!leading) zeros++;
      continue;
    }
    leading = false;
    count += zeros + 1;
    zeros = 0;
  }
  return count;
}

/** `d.ddde±x` with one added to its last digit (a carry may add a digit: 9.99e+0 → 10.00e+0). */
function nextAwayFromZero(exponential: string): string {
  const e = exponential.indexOf('e');
  const negative = exponential.charCodeAt(0) === 0x2d;
  const mantissa = exponential.slice(negative ? 1 : 0, e).replace('.', '');
  const exponent = Number(exponential.slice(e + 1)) - (mantissa.length - 1);
  return `${negative ? '-' : ''}${Number(mantissa) + 1}e${exponent}`;
}

/**
 * A timestamp feature (epoch microseconds) as `event_timestamps` are written. Rows are validated to
 * hold safe integers; anything else that reached the store is written as the number it is, never a 500.
 */
function timestampValueJson(micros: number): string {
  if (Number.isSafeInteger(micros)) return timestampJson(micros);
  return Number.isFinite(micros) ? String(micros) : `"${String(micros)}"`;
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
  const prefix = dayPrefix(day);
  if (prefix === undefined) return legacyTimestampJson(millis, rest);
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

/**
 * timestampJson written into a writer digit by digit: the same bytes, and no string made but the
 * day's prefix (cached).
 */
export function writeTimestampJson(out: JsonWriter, micros: number): void {
  const millis = Math.floor(micros / 1_000);
  const rest = micros - millis * 1_000;
  const day = Math.floor(millis / MS_PER_DAY);
  const prefix = dayPrefix(day);
  // Out of the years 0000-9999, or past where the division above is exact: as timestampJson writes it.
  if (prefix === undefined || !(rest >= 0 && rest < 1_000)) return out.raw(timestampJson(micros));
  let ofDay = millis - day * MS_PER_DAY;
  const ms = ofDay % 1_000;
  ofDay = (ofDay - ms) / 1_000;
  const seconds = ofDay % 60;
  ofDay = (ofDay - seconds) / 60;
  const minutes = ofDay % 60;
  const hours = (ofDay - minutes) / 60;
  out.raw(prefix);
  out.digits(hours, 2);
  out.byte(0x3a /* : */);
  out.digits(minutes, 2);
  out.byte(0x3a);
  out.digits(seconds, 2);
  out.byte(0x2e /* . */);
  out.digits(ms, 3);
  if (rest !== 0) out.digits(rest, 3);
  out.byte(0x5a /* Z */);
  out.byte(0x22 /* " */);
}

/** `"YYYY-MM-DDT` of a day since the epoch (cached); undefined for years outside 0000-9999. */
function dayPrefix(day: number): string | undefined {
  let prefix = dayPrefixes.get(day);
  if (prefix === undefined) {
    const date = new Date(day * MS_PER_DAY).toISOString();
    // Years outside 0000-9999 are written with a sign by toISOString; keep them exact, uncached.
    if (date.length !== 24) return undefined;
    prefix = `"${date.slice(0, 11)}`;
    if (dayPrefixes.size >= MAX_CACHED_DAYS) dayPrefixes.clear();
    dayPrefixes.set(day, prefix);
  }
  return prefix;
}

function legacyTimestampJson(millis: number, rest: number): string {
  const iso = new Date(millis).toISOString();
  return rest === 0 ? `"${iso}"` : `"${iso.slice(0, -1)}${pad3(rest)}Z"`;
}
