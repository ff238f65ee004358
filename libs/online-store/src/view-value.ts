import { FeaturelogError, SOURCE_POSITION_PATTERN, type RowVersion } from '@featurelog/domain';
import { MsgpackWriter } from './msgpack-writer';
import type { OnlineRow, StoredViewValue } from './online-store.port';
import { writeStoredValue } from './stored-feature-value';

/**
 * The stored form of one view's row for one entity: the value of hash field `<view>` in Redis, and of
 * one classic-level record in the embedded store. One binary value, read and replaced whole:
 *
 *   <version digits><e|p><varint n><names: n bytes, `a,b,c` in UTF-8>{<varint n><value text: n bytes>}…
 *
 * Version digits (ordered like compareRowVersions by plain string comparison, so last-write-wins in
 * the Redis script is ONE comparison of the two prefixes; digits only, since Lua compares with strcoll
 * and no locale reorders digits):
 *
 * | chars          | what                                                                              |
 * |----------------|-----------------------------------------------------------------------------------|
 * | 1–17           | event timestamp: `1` + 16-digit n for n >= 0, `0` + 16-digit (n + 2^53) for n < 0  |
 * | 18–34          | created timestamp the same way; null is 17 zeros, below every value              |
 * | 35–36, 37–…    | source position: its length LL (2 digits), then its LL digits; absent is `00`      |
 * | next 16        | log offset                                                                        |
 * | next 16        | log partition                                                                     |
 *
 * so the version is 68 + LL characters (the first 36 say how long it is). Absent (`00`) ranks below
 * any present position, as in compareRowVersions; one source per view gives one width, so present
 * positions compare digit by digit. Then `e` when the row set an expiry on the key, `p` when it made
 * it persistent (the Redis script decides PERSIST without asking Redis), then the feature names (to
 * read without knowing the view's schema; readers cache name → index per distinct names bytes, so a
 * read compares bytes and does not decode them), then each value's encodeStoredValue text, UTF-8,
 * varint-length-prefixed. A deleted row has the names `|` (in no feature name) and no values: it reads
 * as absent and keeps its version against older rows.
 *
 * Why texts (bench/online-store/view-value.bench.ts, the 10 driver features of the online benches,
 * best of 7 on a loaded 2-core machine): the values part is 109 bytes as texts, 73 as MessagePack,
 * 63 as Avro (doubles like 0.0070210631895687 take 18 characters against 8 bytes); but a read to what
 * serving answers (JSON text per value) takes 1.5 µs per row from texts against 7.3 µs from MessagePack
 * and 5.7 µs from Avro (decode, then JSON.stringify each value), and Avro also needs the writer schema
 * at hand. Reads are the latency path and run in the single-threaded serving process, writes are
 * bounded by Redis (a row's encoding, 10 µs with its version and names, is not what limits them), so
 * the store keeps the texts, which serving's JSON copies verbatim. Length prefixes let a read skip to
 * the features it wants without decoding the others.
 */
export const VERSION_FIXED_DIGITS = 68;

/** Feature names of a deleted row. */
export const DELETED_NAMES = '|';

const TWO_53 = 2 ** 53;
const NULL_TIMESTAMP = '0'.repeat(17);

/** The version digits of a row (see the table above). */
export function encodeVersionDigits({
  eventTimestamp,
  createdTimestamp,
  sourcePosition,
  position,
}: RowVersion): string {
  return (
    signed(eventTimestamp) +
    (createdTimestamp === null ? NULL_TIMESTAMP : signed(createdTimestamp)) +
    sourcePart(sourcePosition) +
    digits16(position.offset) +
    digits16(position.partition)
  );
}

/** encodeVersionDigits, written straight into `out` (no string per part). */
export function writeVersionDigits(
  out: MsgpackWriter,
  { eventTimestamp, createdTimestamp, sourcePosition, position }: RowVersion,
): void {
  writeSigned(out, eventTimestamp);
  if (createdTimestamp === null) out.latin1(NULL_TIMESTAMP);
  else writeSigned(out, createdTimestamp);
  if (sourcePosition === undefined) out.latin1('00');
  else out.latin1(sourcePart(sourcePosition));
  writeDigits16(out, position.offset);
  writeDigits16(out, position.partition);
}

/**
 * Writes a row's whole stored value into `out` (inside an element begun with `beginBytes`).
 * `joinedNames` is Object.keys(row.features) joined by `,` (ignored for a deleted row): the values
 * follow in that order, each as its encodeStoredValue text would be written. Object.values takes them
 * in one pass, not one keyed lookup per name.
 */
export function writeViewValue(out: MsgpackWriter, row: OnlineRow, joinedNames: string): void {
  writeVersionDigits(out, row.version);
  out.byte(row.ttlSeconds !== undefined && row.ttlSeconds > 0 ? 0x65 /* e */ : 0x70 /* p */);
  if (row.deleted === true) {
    out.lengthPrefixedUtf8(DELETED_NAMES);
    return;
  }
  out.lengthPrefixedUtf8(joinedNames);
  const values = Object.values(row.features);
  for (let i = 0; i < values.length; i++) writeStoredValue(out, values[i] ?? null);
}

const writer = new MsgpackWriter(4 * 1024);

/** A row's stored value as a Buffer of its own (the Redis adapter builds it in place instead). */
export function encodeViewValue(row: OnlineRow): Buffer {
  writer.reset();
  writeViewValue(writer, row, row.deleted === true ? '' : Object.keys(row.features).join(','));
  return Buffer.from(writer.bytes());
}

/** Where the parts of one stored value start; `at` fields are byte offsets into the value. */
export interface ViewValueParts {
  /** Length of the version digits; the flag byte is at this offset. */
  versionEnd: number;
  namesStart: number;
  namesEnd: number;
  deleted: boolean;
}

/** The places of version, flag and names in a stored value; throws ONLINE_STORE_CORRUPT when it is not one. */
export function viewValueParts(value: Buffer): ViewValueParts {
  const ll = value.length > 36 ? (value[34]! - 48) * 10 + (value[35]! - 48) : -1;
  const versionEnd = VERSION_FIXED_DIGITS + ll;
  const flag = value[versionEnd];
  if (ll < 0 || ll > 60 || (flag !== 0x65 /* e */ && flag !== 0x70) /* p */) throw corrupt(value);
  const namesEnd = readVarint(value, versionEnd + 1) + varintEnd;
  if (namesEnd > value.length) throw corrupt(value);
  const namesStart = varintEnd;
  const deleted = namesEnd - namesStart === 1 && value[namesStart] === 0x7c; /* | */
  return { versionEnd, namesStart, namesEnd, deleted };
}

/** The row version of a stored value. */
export function decodeVersion(value: Buffer, versionEnd: number): RowVersion {
  // Digits read straight from the bytes (no string per part): every part is a safe integer.
  const tail = versionEnd - 32;
  const version: RowVersion = {
    eventTimestamp: signedAt(value, 0),
    createdTimestamp: isNullTimestamp(value) ? null : signedAt(value, 17),
    position: { partition: digitsAt(value, tail + 16, versionEnd), offset: digitsAt(value, tail, tail + 16) },
  };
  if (tail > 36) version.sourcePosition = value.toString('latin1', 36, tail);
  return version;
}

function digitsAt(value: Buffer, start: number, end: number): number {
  let n = 0;
  for (let i = start; i < end; i++) n = n * 10 + (value[i]! - 48);
  return n;
}

function signedAt(value: Buffer, at: number): number {
  const magnitude = digitsAt(value, at + 1, at + 17);
  return value[at] === 0x31 /* 1 */ ? magnitude : magnitude - TWO_53;
}

function isNullTimestamp(value: Buffer): boolean {
  for (let i = 17; i < 34; i++) if (value[i] !== 0x30) return false;
  return true;
}

/** The feature names of a stored value ([] for a deleted row too). */
export function decodeNames(value: Buffer, parts: ViewValueParts): string[] {
  if (parts.deleted || parts.namesEnd === parts.namesStart) return [];
  return utf8(value, parts.namesStart, parts.namesEnd).split(',');
}

/**
 * Where the texts of the values at `indices` are in `value` (see StoredViewValue): the k-th into
 * `spans[at + 2k]` and `spans[at + 2k + 1]`, an empty range for -1 (a feature the row lacks), walking
 * the length prefixes once up to the greatest index wanted. No string is made: serving copies the
 * bytes into its answer.
 */
export function storedSpansAt(
  value: Buffer,
  parts: ViewValueParts,
  indices: Int32Array,
  last: number,
  spans: Int32Array,
  at: number,
): void {
  const starts = scratch(last + 1);
  let end = parts.namesEnd;
  for (let i = 0; i <= last; i++) {
    // The names promise more values than the row holds.
    if (end >= value.length) throw corrupt(value);
    const length = readVarint(value, end);
    starts[2 * i] = varintEnd;
    end = varintEnd + length;
    starts[2 * i + 1] = end;
  }
  if (end > value.length) throw corrupt(value);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k]!;
    spans[at + 2 * k] = i < 0 ? 0 : starts[2 * i]!;
    spans[at + 2 * k + 1] = i < 0 ? 0 : starts[2 * i + 1]!;
  }
}

/** The stored text of the k-th wanted feature of a value read by readStored ('' for null or a feature the row lacks). */
export function storedText(value: StoredViewValue, k: number): string {
  const start = value.spans[value.at + 2 * k]!;
  const end = value.spans[value.at + 2 * k + 1]!;
  return utf8(value.bytes, start, end);
}

/** A readStored value holding these stored texts (in-memory stores, tests and benches). */
export function storedViewValueOf(version: RowVersion, texts: readonly string[]): StoredViewValue {
  const parts = texts.map((text) => Buffer.from(text, 'utf8'));
  const spans = new Int32Array(2 * texts.length);
  let end = 0;
  parts.forEach((part, k) => {
    spans[2 * k] = end;
    end += part.length;
    spans[2 * k + 1] = end;
  });
  return { version, bytes: Buffer.concat(parts), spans, at: 0 };
}

/** Every stored text of a value, in the order of its names. */
export function allStoredTexts(value: Buffer, parts: ViewValueParts, count: number): string[] {
  const out = new Array<string>(count);
  let at = parts.namesEnd;
  for (let i = 0; i < count; i++) {
    if (at >= value.length) throw corrupt(value);
    const length = readVarint(value, at);
    at = varintEnd + length;
    if (at > value.length) throw corrupt(value);
    out[i] = utf8(value, varintEnd, at);
  }
  return out;
}

/** The version digits of a stored value, as bytes to compare (embedded store's last-write-wins). */
export function versionBytes(value: Buffer): Buffer {
  return value.subarray(0, viewValueParts(value).versionEnd);
}

/** Where the last readVarint ended (a module variable, so that reading needs no tuple per value). */
let varintEnd = 0;

function readVarint(bytes: Buffer, at: number): number {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = bytes[at++];
    if (byte === undefined || shift > 28) throw corrupt(bytes);
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) break;
    shift += 7;
  }
  varintEnd = at;
  return value;
}

let scratchStarts = new Int32Array(64);
function scratch(count: number): Int32Array {
  if (scratchStarts.length < 2 * count) scratchStarts = new Int32Array(2 * count * 2);
  return scratchStarts;
}

function utf8(value: Buffer, start: number, end: number): string {
  return start === end ? '' : value.toString('utf8', start, end);
}

function corrupt(value: Buffer): FeaturelogError {
  const head = value.toString('latin1', 0, Math.min(value.length, 80));
  return new FeaturelogError(
    'ONLINE_STORE_CORRUPT',
    `stored view value is not <version digits><e|p><names><values>: ${JSON.stringify(head)}`,
  );
}

function sourcePart(sourcePosition: string | undefined): string {
  if (sourcePosition === undefined) return '00';
  if (!SOURCE_POSITION_PATTERN.test(sourcePosition)) {
    throw new FeaturelogError(
      'INVALID_ONLINE_ROW',
      `source position must be 1 to 60 digits, got ${JSON.stringify(sourcePosition).slice(0, 80)}`,
    );
  }
  return (sourcePosition.length < 10 ? '0' : '') + sourcePosition.length + sourcePosition;
}

function writeSigned(out: MsgpackWriter, n: number): void {
  if (n >= 0) {
    out.byte(0x31);
    writeDigits16(out, n);
  } else {
    out.byte(0x30);
    writeDigits16(out, n + TWO_53);
  }
}

function writeDigits16(out: MsgpackWriter, n: number): void {
  // Safe integers have at most 16 digits; anything else is written as digits16 writes it.
  if (Number.isSafeInteger(n) && n >= 0 && n < 1e16) out.digits(n, 16);
  else out.latin1(digits16(n));
}

function signed(n: number): string {
  return n >= 0 ? '1' + digits16(n) : '0' + digits16(n + TWO_53);
}

function digits16(n: number): string {
  const text = String(n);
  return text.length >= 16 ? text : '0000000000000000'.slice(text.length) + text;
}
