import { isUtf8 } from 'node:buffer';
/** What a JsonWriter starts with, and shrinks back to after an answer that needed more. */
const INITIAL_CAPACITY = 64 * 1024;
/** A writer that grew past this (a batch of 1,000 rows) gives the memory back when reset. */
const KEPT_CAPACITY = 4 * 1024 * 1024;
/** Shorter strings are copied by a loop here: a call into Buffer#write costs more than the loop. */
const SHORT_STRING = 48;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const HEX = '0123456789abcdef';

/**
 * UTF-8 JSON text written into one buffer that is reused from answer to answer: the answer path
 * makes no string per value, no joined string per column, and no buffer per view, only the one
 * Buffer of the finished body (finish copies it out, since the socket may still be sending it while
 * the next answer is written). Synchronous use only: nothing may await between reset and finish.
 */
export class JsonWriter {
  private buffer: Buffer;
  /** Bytes written since the last reset. */
  length = 0;

  constructor(private readonly initialCapacity = INITIAL_CAPACITY) {
    this.buffer = Buffer.allocUnsafe(initialCapacity);
  }

  reset(): void {
    if (this.buffer.length > KEPT_CAPACITY) this.buffer = Buffer.allocUnsafe(this.initialCapacity);
    this.length = 0;
  }

  byte(byte: number): void {
    if (this.length === this.buffer.length) this.grow(1);
    this.buffer[this.length++] = byte;
  }

  /** `n` (an integer, 0 <= n < 10^width, width 2 or 3) in `width` decimal digits, zero-padded. */
  digits(n: number, width: 2 | 3): void {
    if (this.length + 3 > this.buffer.length) this.grow(3);
    const buffer = this.buffer;
    let at = this.length;
    if (width === 3) {
      const hundreds = (n / 100) | 0;
      buffer[at++] = 0x30 + hundreds;
      n -= hundreds * 100;
    }
    const tens = (n / 10) | 0;
    buffer[at++] = 0x30 + tens;
    buffer[at++] = 0x30 + n - tens * 10;
    this.length = at;
  }

  /** Text written as it is (numbers, JSON literals, JSON already made): UTF-8, with a fast path for ASCII. */
  raw(text: string): void {
    const n = text.length;
    if (this.length + n * 3 > this.buffer.length) this.grow(n * 3);
    if (n > SHORT_STRING) {
      this.length += this.buffer.write(text, this.length);
      return;
    }
    const buffer = this.buffer;
    let at = this.length;
    for (let i = 0; i < n; i++) {
      const code = text.charCodeAt(i);
      if (code >= 0x80) {
        this.length = at + buffer.write(text.slice(i), at);
        return;
      }
      buffer[at++] = code;
    }
    this.length = at;
  }

  /**
   * `text.slice(from)` as a JSON string, exactly as JSON.stringify writes it: `"` and `\` escaped,
   * \b \f \n \r \t, other control characters as \u00xx, lone surrogates as \udxxx, everything else as
   * its UTF-8 bytes.
   */
  string(text: string, from = 0): void {
    const n = text.length;
    // Escapes take at most 6 bytes per UTF-16 unit (\u00xx, \udxxx); UTF-8 at most 3.
    if (this.length + (n - from) * 6 + 2 > this.buffer.length) this.grow((n - from) * 6 + 2);
    const buffer = this.buffer;
    let at = this.length;
    buffer[at++] = QUOTE;
    for (let i = from; i < n; i++) {
      const code = text.charCodeAt(i);
      if (code < 0x80) {
        if (code >= 0x20 && code !== QUOTE && code !== BACKSLASH) {
          buffer[at++] = code;
          continue;
        }
        buffer[at++] = BACKSLASH;
        const short = SHORT_ESCAPES[code];
        if (short !== undefined) buffer[at++] = short;
        else at = writeUnicodeEscape(buffer, at, code);
      } else if (code < 0x800) {
        buffer[at++] = 0xc0 | (code >> 6);
        buffer[at++] = 0x80 | (code & 0x3f);
      } else if (code >= 0xd800 && code <= 0xdfff) {
        const next = i + 1 < n ? text.charCodeAt(i + 1) : 0;
        if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          const point = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00);
          buffer[at++] = 0xf0 | (point >> 18);
          buffer[at++] = 0x80 | ((point >> 12) & 0x3f);
          buffer[at++] = 0x80 | ((point >> 6) & 0x3f);
          buffer[at++] = 0x80 | (point & 0x3f);
          i++;
        } else {
          // A lone surrogate has no UTF-8: JSON.stringify escapes it.
          buffer[at++] = BACKSLASH;
          at = writeUnicodeEscape(buffer, at, code);
        }
      } else {
        buffer[at++] = 0xe0 | (code >> 12);
        buffer[at++] = 0x80 | ((code >> 6) & 0x3f);
        buffer[at++] = 0x80 | (code & 0x3f);
      }
    }
    buffer[at++] = QUOTE;
    this.length = at;
  }

  /**
   * The UTF-8 text in `source` from `start` to `end`, written as it is: the bytes `raw` writes for that
   * text, without making it. Bytes that are not UTF-8 (a store written by something else) are
   * written as their decoding (U+FFFD for each bad sequence), as `raw` of it would.
   */
  utf8(source: Buffer, start: number, end: number): void {
    const n = end - start;
    if (this.length + n > this.buffer.length) this.grow(n);
    const buffer = this.buffer;
    let at = this.length;
    let high = 0;
    if (n > SHORT_STRING) {
      source.copy(buffer, at, start, end);
      for (let i = start; i < end; i++) high |= source[i]!;
      at += n;
    } else {
      for (let i = start; i < end; i++) {
        const byte = source[i]!;
        high |= byte;
        buffer[at++] = byte;
      }
    }
    if (high >= 0x80 && !isUtf8(source.subarray(start, end))) return this.raw(source.toString('utf8', start, end));
    this.length = at;
  }

  /**
   * The UTF-8 text in `source` from `start` to `end` as a JSON string: exactly what `string` writes
   * for that text, escaped byte by byte without making it (UTF-8 holds no surrogate, and every byte of
   * a multi-byte character is >= 0x80, so only ASCII needs escaping). Bytes that are not UTF-8 are
   * written as `string` writes their decoding.
   */
  stringOfUtf8(source: Buffer, start: number, end: number): void {
    const n = end - start;
    if (this.length + n * 6 + 2 > this.buffer.length) this.grow(n * 6 + 2);
    const buffer = this.buffer;
    let at = this.length;
    let high = false;
    buffer[at++] = QUOTE;
    for (let i = start; i < end; i++) {
      const byte = source[i]!;
      if (byte >= 0x20 && byte !== QUOTE && byte !== BACKSLASH) {
        if (byte >= 0x80) high = true;
        buffer[at++] = byte;
        continue;
      }
      buffer[at++] = BACKSLASH;
      const short = SHORT_ESCAPES[byte];
      if (short !== undefined) buffer[at++] = short;
      else at = writeUnicodeEscape(buffer, at, byte);
    }
    if (high && !isUtf8(source.subarray(start, end))) return this.string(source.toString('utf8', start, end));
    buffer[at++] = QUOTE;
    this.length = at;
  }

  bytes(bytes: Uint8Array): void {
    if (this.length + bytes.length > this.buffer.length) this.grow(bytes.length);
    this.buffer.set(bytes, this.length);
    this.length += bytes.length;
  }

  /** Bytes `start` to `end` of another writer (a piece written once, repeated in many places). */
  copyFrom(other: JsonWriter, start: number, end: number): void {
    const n = end - start;
    if (this.length + n > this.buffer.length) this.grow(n);
    other.buffer.copy(this.buffer, this.length, start, end);
    this.length += n;
  }

  /** Whether the last 4 bytes written are `null`. */
  endsWithNull(): boolean {
    const b = this.buffer;
    const at = this.length;
    return at >= 4 && b[at - 4] === 0x6e && b[at - 3] === 0x75 && b[at - 2] === 0x6c && b[at - 1] === 0x6c;
  }

  /** A Buffer of its own holding what was written (the writer's buffer is written over by the next answer). */
  finish(): Buffer {
    const out = Buffer.allocUnsafe(this.length);
    this.buffer.copy(out, 0, 0, this.length);
    return out;
  }

  /** What was written, as text (tests). */
  toString(): string {
    return this.buffer.toString('utf8', 0, this.length);
  }

  private grow(needed: number): void {
    const next = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.length + needed));
    this.buffer.copy(next, 0, 0, this.length);
    this.buffer = next;
  }
}

const SHORT_ESCAPES: Array<number | undefined> = [];
SHORT_ESCAPES[0x08] = 0x62; // \b
SHORT_ESCAPES[0x09] = 0x74; // \t
SHORT_ESCAPES[0x0a] = 0x6e; // \n
SHORT_ESCAPES[0x0c] = 0x66; // \f
SHORT_ESCAPES[0x0d] = 0x72; // \r
SHORT_ESCAPES[QUOTE] = QUOTE;
SHORT_ESCAPES[BACKSLASH] = BACKSLASH;

/** `uxxxx` (lowercase hex, as JSON.stringify), after the backslash. */
function writeUnicodeEscape(buffer: Buffer, at: number, code: number): number {
  buffer[at++] = 0x75;
  buffer[at++] = HEX.charCodeAt((code >> 12) & 0xf);
  buffer[at++] = HEX.charCodeAt((code >> 8) & 0xf);
  buffer[at++] = HEX.charCodeAt((code >> 4) & 0xf);
  buffer[at++] = HEX.charCodeAt(code & 0xf);
  return at;
}
