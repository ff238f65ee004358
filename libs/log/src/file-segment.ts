import { crc32 } from 'node:zlib';
import { type FileHandle, open } from 'node:fs/promises';
import { FeaturelogError } from '@featurelog/domain';

/**
 * One partition's records on disk, as a sequence of frames:
 *
 *   u32 bodyLength | u32 crc32(body) | body
 *   body = f64 timestamp | i32 keyLength (-1: null) | key | i32 valueLength (-1: null) | value
 *          | u16 headerCount | (u16 nameLength | name | u32 valueLength | value)*
 *
 * The offset of a record is its ordinal in the file, so no offset is stored; the byte position of
 * every record is kept in memory (8 bytes a record), rebuilt by one sequential scan on open. That
 * scan is also the crash recovery: a frame cut short or failing its CRC ends the log, and the file
 * is truncated there.
 */
export interface SegmentRecord {
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer>;
  timestamp: number;
}

export interface RecoveryReport {
  file: string;
  validBytes: number;
  droppedBytes: number;
  reason: string;
}

const FRAME_HEADER_BYTES = 8;
/** A frame claiming more than this is garbage, not a record. */
const MAX_FRAME_BYTES = 256 * 1024 * 1024;
const RECOVERY_CHUNK_BYTES = 1024 * 1024;

export function encodeFrame(record: SegmentRecord): Buffer {
  const headerEntries = Object.entries(record.headers);
  let bodyLength = 8 + 4 + (record.key?.length ?? 0) + 4 + (record.value?.length ?? 0) + 2;
  const names = headerEntries.map(([name]) => Buffer.from(name, 'utf8'));
  headerEntries.forEach(([, value], i) => (bodyLength += 2 + names[i]!.length + 4 + value.length));
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + bodyLength);
  let at = FRAME_HEADER_BYTES;
  at = frame.writeDoubleBE(record.timestamp, at);
  at = writeBytes(frame, at, record.key);
  at = writeBytes(frame, at, record.value);
  at = frame.writeUInt16BE(headerEntries.length, at);
  headerEntries.forEach(([, value], i) => {
    at = frame.writeUInt16BE(names[i]!.length, at);
    at += names[i]!.copy(frame, at);
    at = frame.writeUInt32BE(value.length, at);
    at += value.copy(frame, at);
  });
  frame.writeUInt32BE(bodyLength, 0);
  frame.writeUInt32BE(crc32(frame.subarray(FRAME_HEADER_BYTES)), 4);
  return frame;
}

function writeBytes(frame: Buffer, at: number, bytes: Buffer | null): number {
  if (bytes === null) return frame.writeInt32BE(-1, at);
  at = frame.writeInt32BE(bytes.length, at);
  return at + bytes.copy(frame, at);
}

/** Decodes the frames of `chunk`, which must hold whole frames only (positions come from the index). */
export function decodeFrames(chunk: Buffer, count: number): SegmentRecord[] {
  const records: SegmentRecord[] = [];
  let at = 0;
  for (let n = 0; n < count; n++) {
    const bodyLength = chunk.readUInt32BE(at);
    const body = chunk.subarray(at + FRAME_HEADER_BYTES, at + FRAME_HEADER_BYTES + bodyLength);
    records.push(decodeBody(body));
    at += FRAME_HEADER_BYTES + bodyLength;
  }
  return records;
}

function decodeBody(body: Buffer): SegmentRecord {
  // Copies, so that a record kept by a consumer does not pin the whole read buffer.
  const timestamp = body.readDoubleBE(0);
  let at = 8;
  const readBytes = (): Buffer | null => {
    const length = body.readInt32BE(at);
    at += 4;
    if (length < 0) return null;
    const bytes = Buffer.from(body.subarray(at, at + length));
    at += length;
    return bytes;
  };
  const key = readBytes();
  const value = readBytes();
  const headerCount = body.readUInt16BE(at);
  at += 2;
  const headers: Record<string, Buffer> = {};
  for (let i = 0; i < headerCount; i++) {
    const nameLength = body.readUInt16BE(at);
    const name = body.toString('utf8', at + 2, at + 2 + nameLength);
    at += 2 + nameLength;
    const valueLength = body.readUInt32BE(at);
    headers[name] = Buffer.from(body.subarray(at + 4, at + 4 + valueLength));
    at += 4 + valueLength;
  }
  return { key, value, headers, timestamp };
}

/** Byte positions of records, growing by doubling. */
export class PositionIndex {
  private positions = new Float64Array(1024);
  count = 0;

  push(position: number): void {
    if (this.count === this.positions.length) {
      const grown = new Float64Array(this.positions.length * 2);
      grown.set(this.positions);
      this.positions = grown;
    }
    this.positions[this.count++] = position;
  }

  at(offset: number): number {
    return this.positions[offset]!;
  }

  truncate(count: number): void {
    this.count = count;
  }
}

/**
 * Opens a segment file, scans it to build the index, and cuts off a torn tail. Returns the open
 * handle (appends go to the end, reads are positional), the index and the valid size.
 */
export async function openSegment(
  file: string,
): Promise<{ handle: FileHandle; index: PositionIndex; size: number; recovery?: RecoveryReport }> {
  const handle = await open(file, 'a+');
  try {
    const { size: fileSize } = await handle.stat();
    const index = new PositionIndex();
    let position = 0;
    let reason: string | undefined;
    let buffer = Buffer.alloc(0);
    let bufferStart = 0;
    // Reads `length` bytes at `position`, refilling a chunk buffer so the scan is sequential.
    const readAt = async (at: number, length: number): Promise<Buffer | undefined> => {
      if (at + length > fileSize) return undefined;
      if (at < bufferStart || at + length > bufferStart + buffer.length) {
        const want = Math.min(Math.max(length, RECOVERY_CHUNK_BYTES), fileSize - at);
        buffer = Buffer.allocUnsafe(want);
        const { bytesRead } = await handle.read(buffer, 0, want, at);
        buffer = buffer.subarray(0, bytesRead);
        bufferStart = at;
        if (bytesRead < length) return undefined;
      }
      return buffer.subarray(at - bufferStart, at - bufferStart + length);
    };
    while (position < fileSize) {
      const frameHeader = await readAt(position, FRAME_HEADER_BYTES);
      if (!frameHeader) {
        reason = 'frame header cut short';
        break;
      }
      const bodyLength = frameHeader.readUInt32BE(0);
      const expectedCrc = frameHeader.readUInt32BE(4);
      if (bodyLength > MAX_FRAME_BYTES) {
        reason = `frame length ${bodyLength} is not plausible`;
        break;
      }
      const body = await readAt(position + FRAME_HEADER_BYTES, bodyLength);
      if (!body) {
        reason = 'frame body cut short';
        break;
      }
      if (crc32(body) !== expectedCrc) {
        reason = 'frame fails its CRC';
        break;
      }
      index.push(position);
      position += FRAME_HEADER_BYTES + bodyLength;
    }
    let recovery: RecoveryReport | undefined;
    if (position < fileSize) {
      await handle.truncate(position);
      await handle.sync();
      recovery = { file, validBytes: position, droppedBytes: fileSize - position, reason: reason ?? 'unknown' };
    }
    return { handle, index, size: position, recovery };
  } catch (error) {
    await handle.close();
    throw new FeaturelogError('LOG_SEGMENT_UNREADABLE', `cannot open log segment ${file}`, { cause: error });
  }
}
