/**
 * Writes the few MessagePack forms the Redis write script reads with `cmsgpack.unpack`: one flat
 * array of strings and small unsigned integers. A batch goes to Redis as ONE such argument instead of
 * ~30 per row, which is what serialising a batch costs in ioredis and parsing it costs in Redis.
 */
export class MsgpackWriter {
  private buffer: Buffer;
  private length = 0;

  constructor(initialBytes = 64 * 1024) {
    this.buffer = Buffer.allocUnsafe(initialBytes);
  }

  /** Starts an array whose element count is filled in later by `endArray(at, count)`. */
  beginArray(): number {
    this.reserve(5);
    const at = this.length;
    this.buffer[at] = 0xdd; // array 32
    this.length += 5;
    return at;
  }

  endArray(at: number, count: number): void {
    this.buffer.writeUInt32BE(count, at + 1);
  }

  /** Room for a uint 32 whose value is known only later (`fillPlaceholder`). */
  placeholder(): number {
    this.reserve(5);
    const at = this.length;
    this.buffer[at] = 0xce;
    this.length += 5;
    return at;
  }

  fillPlaceholder(at: number, value: number): void {
    this.buffer.writeUInt32BE(value, at + 1);
  }

  uint(value: number): void {
    this.reserve(5);
    const buffer = this.buffer;
    if (value < 0x80) {
      buffer[this.length++] = value; // positive fixint
    } else if (value <= 0xffff) {
      buffer[this.length] = 0xcd;
      buffer.writeUInt16BE(value, this.length + 1);
      this.length += 3;
    } else {
      buffer[this.length] = 0xce;
      buffer.writeUInt32BE(value, this.length + 1);
      this.length += 5;
    }
  }

  string(text: string): void {
    // Up to 85 UTF-16 units take at most 255 UTF-8 bytes: a str 8, its length known once written.
    if (text.length <= 85) {
      this.reserve(2 + text.length * 3);
      const at = this.length;
      const written = this.utf8At(text, at + 2);
      this.buffer[at] = 0xd9;
      this.buffer[at + 1] = written;
      this.length = at + 2 + written;
      return;
    }
    const bytes = Buffer.byteLength(text, 'utf8');
    this.reserve(5 + bytes);
    this.buffer[this.length] = 0xdb; // str 32
    this.buffer.writeUInt32BE(bytes, this.length + 1);
    this.buffer.write(text, this.length + 5, 'utf8');
    this.length += 5 + bytes;
  }

  /**
   * Starts a string element whose bytes are written by the calls up to `endBytes(at)` (a view's stored
   * value is built in place, without a Buffer of its own per row). cmsgpack hands it to Lua as is.
   */
  beginBytes(): number {
    this.reserve(5);
    const at = this.length;
    this.buffer[at] = 0xdb; // str 32
    this.length += 5;
    return at;
  }

  endBytes(at: number): void {
    this.buffer.writeUInt32BE(this.length - at - 5, at + 1);
  }

  /** Raw bytes of text that is ASCII (version digits, flags). */
  latin1(text: string): void {
    this.reserve(text.length);
    const buffer = this.buffer;
    let at = this.length;
    for (let i = 0; i < text.length; i++) buffer[at++] = text.charCodeAt(i);
    this.length = at;
  }

  /** One raw byte. */
  byte(value: number): void {
    this.reserve(1);
    this.buffer[this.length++] = value;
  }

  /**
   * The `width` decimal digits of an integer 0 <= n < 10^width, zero-padded (width <= 16), written
   * without a string: two halves below 10^8 keep the arithmetic in small integers.
   */
  digits(n: number, width: number): void {
    this.reserve(width);
    const buffer = this.buffer;
    let at = this.length + width;
    const high = Math.floor(n / 100_000_000);
    let part = (n - high * 100_000_000) | 0;
    for (let i = 0; i < width; i++) {
      if (i === 8) part = high | 0;
      const rest = (part / 10) | 0;
      buffer[--at] = 0x30 + part - rest * 10;
      part = rest;
    }
    this.length += width;
  }

  /** The text in UTF-8, after its byte length as a varint (7 bits a byte, low first). */
  lengthPrefixedUtf8(text: string): void {
    // Up to 42 UTF-16 units take at most 126 UTF-8 bytes: one varint byte, its value known once written.
    if (text.length <= 42) {
      this.reserve(1 + text.length * 3);
      const written = this.utf8At(text, this.length + 1);
      this.buffer[this.length] = written;
      this.length += 1 + written;
      return;
    }
    const bytes = Buffer.byteLength(text, 'utf8');
    this.reserve(5 + bytes);
    let n = bytes;
    while (n >= 0x80) {
      this.buffer[this.length++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    this.buffer[this.length++] = n;
    this.length += this.buffer.write(text, this.length, 'utf8');
  }

  /**
   * `tag` (one ASCII character's code) then the text, in UTF-8, after their byte length as a varint:
   * lengthPrefixedUtf8(String.fromCharCode(tag) + text) without making that string.
   */
  taggedLengthPrefixedUtf8(tag: number, text: string): void {
    if (text.length > 41) {
      this.lengthPrefixedUtf8(String.fromCharCode(tag) + text);
      return;
    }
    this.reserve(2 + text.length * 3);
    const at = this.length;
    this.buffer[at + 1] = tag;
    const written = this.utf8At(text, at + 2);
    this.buffer[at] = 1 + written;
    this.length = at + 2 + written;
  }

  /**
   * The decimal form of a safe integer (String(n); not -0), after its byte length as a varint, written
   * without a string.
   */
  lengthPrefixedInteger(n: number): void {
    this.reserve(18);
    const at = this.length;
    this.length = at + 1;
    let magnitude = n;
    if (n < 0) {
      this.buffer[this.length++] = 0x2d; // -
      magnitude = -n;
    }
    let count = 1;
    for (let bound = 10; bound <= magnitude && count < 16; bound *= 10) count++;
    this.digits(magnitude, count);
    this.buffer[at] = this.length - at - 1;
  }

  /** Forgets what was written, keeping the buffer. */
  reset(): void {
    this.length = 0;
  }

  /** The bytes written so far (a view of the writer's buffer, valid until the next write). */
  bytes(): Buffer {
    return this.buffer.subarray(0, this.length);
  }

  /**
   * Writes `text` in UTF-8 at `at` (room reserved by the caller) and returns its byte count. Short
   * ASCII texts — most of what is written — are copied a code unit at a time: cheaper than a
   * Buffer.write call, which crosses into C++ for a few bytes.
   */
  private utf8At(text: string, at: number): number {
    const buffer = this.buffer;
    const length = text.length;
    for (let i = 0; i < length; i++) {
      const code = text.charCodeAt(i);
      if (code >= 0x80) return buffer.write(text, at, 'utf8');
      buffer[at + i] = code;
    }
    return length;
  }

  private reserve(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.length + bytes));
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }
}
