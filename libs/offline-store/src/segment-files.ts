import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { FeaturelogError } from '@featurelog/domain';
import type { SegmentCodec } from './segment-codec.port';
import type { OffsetRange, SegmentWritten } from './segment-events';
import { compareSegmentRows, type SegmentRow, type SegmentSchema } from './segment-schema';
import { formatRange, normalizeRanges, offsetRangesProblem, rangeLookup } from './offset-ranges';

export interface WriteSegmentInput {
  /** The offline root directory; segment paths in events are relative to it. */
  root: string;
  project: string;
  schema: SegmentSchema;
  /** `YYYY-MM-DD`: the day directory, chosen by the caller (a compactor cuts segments at day boundaries). */
  date: string;
  /** The log offsets this segment accounts for; every row must lie in them. */
  ranges: OffsetRange[];
  /** Rows in segment order (compareSegmentRows); checked as they stream by. */
  rows: AsyncIterable<SegmentRow[]> | Iterable<SegmentRow[]>;
  /** Defaults to a fresh, time-ordered id: a redo after a crash never overwrites a file already announced. */
  segmentId?: string;
  rowGroupSize?: number;
  /** Epoch µs; injectable for tests. */
  now?: () => number;
}

const DATE = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;
const SAFE_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

export const nowMicros = (): number => Date.now() * 1000;

/** `<yyyymmddThhmmss>-<16 hex>`: sorts by creation time, unique without coordination. */
export function newSegmentId(at: number = nowMicros()): string {
  const stamp = new Date(Math.floor(at / 1000)).toISOString().replace(/[-:]/g, '').slice(0, 15);
  return `${stamp}-${randomBytes(8).toString('hex')}`;
}

/** `<project>/<view>/date=YYYY-MM-DD/<segment-id><ext>`, relative to the offline root. */
export function segmentRelativePath(
  project: string,
  view: string,
  date: string,
  segmentId: string,
  extension = '.parquet',
): string {
  for (const [what, value] of [
    ['project', project],
    ['view', view],
    ['segment id', segmentId],
  ] as const) {
    if (!SAFE_NAME.test(value)) {
      throw new FeaturelogError(
        'SEGMENT_PATH_INVALID',
        `${what} '${value}' cannot be a path component (allowed: ${SAFE_NAME.source})`,
      );
    }
  }
  if (!DATE.test(date)) throw new FeaturelogError('SEGMENT_PATH_INVALID', `date '${date}' is not YYYY-MM-DD`);
  return `${project}/${view}/date=${date}/${segmentId}${extension}`;
}

/**
 * Writes one segment file atomically and returns the event that announces it. The bytes go to a hidden
 * temporary file in the target directory, hashed (SHA-256) as they are written; the file is fsynced,
 * renamed into place and the directory fsynced. Readers therefore see the whole file or none, and on
 * any failure the temporary file is removed and nothing is left behind.
 */
export async function writeSegment(codec: SegmentCodec, input: WriteSegmentInput): Promise<SegmentWritten> {
  const { root, project, schema, date, rowGroupSize, now = nowMicros } = input;
  const segmentId = input.segmentId ?? newSegmentId(now());
  const path = segmentRelativePath(project, schema.view, date, segmentId, codec.extension);
  const problem = offsetRangesProblem(input.ranges);
  if (problem) throw new FeaturelogError('SEGMENT_RANGES_INVALID', `segment ${path}: ${problem}`);
  const ranges = normalizeRanges(input.ranges);

  const target = join(root, path);
  const directory = dirname(target);
  const temporary = join(directory, `.${segmentId}${codec.extension}.${randomBytes(4).toString('hex')}.tmp`);
  mkdirSync(directory, { recursive: true });

  const hash = createHash('sha256');
  let bytes = 0;
  const stats = { minEventTime: null as number | null, maxEventTime: null as number | null };
  const fd = openSync(temporary, 'wx');
  let open = true;
  try {
    const { rowCount } = await codec.write(
      schema,
      checkedRows(path, schema, ranges, input.rows, stats),
      {
        write(chunk) {
          hash.update(chunk);
          let written = 0;
          while (written < chunk.length) written += writeSync(fd, chunk, written, chunk.length - written);
          bytes += chunk.length;
        },
      },
      { rowGroupSize },
    );
    fsyncSync(fd);
    closeSync(fd);
    open = false;
    renameSync(temporary, target);
    syncDirectory(directory);
    return {
      type: 'SegmentWritten',
      segmentId,
      view: schema.view,
      path,
      date,
      ranges,
      minEventTime: stats.minEventTime,
      maxEventTime: stats.maxEventTime,
      rowCount,
      checksum: hash.digest('hex'),
      bytes,
      writtenAt: now(),
    };
  } catch (error) {
    if (open) closeSync(fd);
    rmSync(temporary, { force: true });
    if (error instanceof FeaturelogError) throw error;
    throw new FeaturelogError(
      'SEGMENT_WRITE_FAILED',
      `could not write segment ${target}: ${(error as Error).message}`,
      {
        retriable: true,
        cause: error,
      },
    );
  }
}

/** Passes the rows through, refusing any out of order or outside the declared ranges, and gathers stats. */
async function* checkedRows(
  path: string,
  schema: SegmentSchema,
  ranges: OffsetRange[],
  rows: AsyncIterable<SegmentRow[]> | Iterable<SegmentRow[]>,
  stats: { minEventTime: number | null; maxEventTime: number | null },
): AsyncIterable<SegmentRow[]> {
  const inRanges = rangeLookup(ranges);
  let previous: SegmentRow | undefined;
  for await (const batch of rows) {
    for (const row of batch) {
      if (!inRanges(row.partition, row.offset)) {
        throw new FeaturelogError(
          'SEGMENT_ROW_OUTSIDE_RANGES',
          `segment ${path}: row at p${row.partition}@${row.offset} is outside its ranges ${ranges.map(formatRange).join(' ')}`,
        );
      }
      if (previous && compareSegmentRows(schema, previous, row) >= 0) {
        throw new FeaturelogError(
          'SEGMENT_ROWS_UNSORTED',
          `segment ${path}: row at p${row.partition}@${row.offset} does not come after p${previous.partition}@${previous.offset} in segment order`,
        );
      }
      previous = row;
      if (stats.minEventTime === null || row.eventTimestamp < stats.minEventTime)
        stats.minEventTime = row.eventTimestamp;
      if (stats.maxEventTime === null || row.eventTimestamp > stats.maxEventTime)
        stats.maxEventTime = row.eventTimestamp;
    }
    yield batch;
  }
}

/** A rename is durable only once its directory entry is on disk. */
function syncDirectory(directory: string): void {
  const fd = openSync(directory, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** What a reader needs from the announcement to find and trust a segment file. */
export type SegmentLocation = Pick<SegmentWritten, 'path' | 'checksum' | 'bytes'>;

/**
 * Checks that the segment file exists and its bytes hash to the announced checksum. Throws
 * SEGMENT_MISSING or SEGMENT_CORRUPT, naming the path.
 */
export async function verifySegment(root: string, segment: SegmentLocation): Promise<void> {
  const target = join(root, segment.path);
  let size: number;
  try {
    size = (await stat(target)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new FeaturelogError('SEGMENT_MISSING', `segment file ${target} does not exist`, { cause: error });
    }
    throw new FeaturelogError('SEGMENT_READ_FAILED', `cannot stat segment file ${target}`, {
      retriable: true,
      cause: error,
    });
  }
  if (size !== segment.bytes) {
    throw new FeaturelogError(
      'SEGMENT_CORRUPT',
      `segment file ${target} has ${size} bytes, ${segment.bytes} were written`,
    );
  }
  const hash = createHash('sha256');
  // 1 MiB reads: a fifth less time than the default 64 KiB ones on segments of a few MB.
  for await (const chunk of createReadStream(target, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  const actual = hash.digest('hex');
  if (actual !== segment.checksum) {
    throw new FeaturelogError(
      'SEGMENT_CORRUPT',
      `segment file ${target} has checksum ${actual}, ${segment.checksum} was written`,
    );
  }
}

/** The rows of a verified segment, one batch per row group, in segment order. */
export async function* readSegment(
  codec: SegmentCodec,
  root: string,
  segment: SegmentLocation,
): AsyncIterable<SegmentRow[]> {
  await verifySegment(root, segment);
  const target = join(root, segment.path);
  try {
    yield* codec.read(target);
  } catch (error) {
    if (error instanceof FeaturelogError) throw error;
    throw new FeaturelogError(
      'SEGMENT_CORRUPT',
      `segment file ${target} cannot be decoded: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
}

/** The schema stored in a segment file, after verifying it. */
export async function readSegmentSchema(
  codec: SegmentCodec,
  root: string,
  segment: SegmentLocation,
): Promise<SegmentSchema> {
  await verifySegment(root, segment);
  return codec.readSchema(join(root, segment.path));
}
