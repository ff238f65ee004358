import { createHash } from 'node:crypto';
import { normalizeRanges } from './offset-ranges';
import { sortSegmentRows, type SegmentSchema } from './segment-schema';
import { writeSegment } from './segment-files';
import type { MergePlan } from './segment-merge';
import type { OffsetRange, SegmentWritten } from './segment-events';
import type { SegmentCodec } from './segment-codec.port';
import type { DatedSegmentInput } from './partition-buffer';

const shortHash = (text: string, length: number) => createHash('sha256').update(text).digest('hex').slice(0, length);

/**
 * The id of a flushed segment, a function of what it covers: `p<partition>-<first offset>-<end offset>-<hash>`
 * where the hash is over the view, the date and the exact ranges. Redoing an unannounced flush of the
 * same offsets after a crash therefore writes the same path again (replacing the orphan atomically),
 * and ids stay distinct across views, as the catalog requires.
 */
export function flushedSegmentId(view: string, date: string, ranges: readonly OffsetRange[]): string {
  const normalized = normalizeRanges(ranges);
  const first = normalized[0]!;
  const last = normalized.at(-1)!;
  const canonical = normalized.map((r) => `${r.partition}:${r.fromOffset}-${r.untilOffset}`).join(',');
  return `p${first.partition}-${first.fromOffset}-${last.untilOffset}-${shortHash(`${view}|${date}|${canonical}`, 10)}`;
}

/** The id of a merged segment, a function of the segments it replaces (so a redone merge rewrites the same file). */
export function mergedSegmentId(plan: MergePlan): string {
  const replaced = plan.segments.map((segment) => segment.segmentId).sort();
  return `merged-${shortHash(`${plan.view}|${plan.date}|${replaced.join(',')}`, 16)}`;
}

export interface WriteDatedSegmentsInput {
  root: string;
  project: string;
  schema: SegmentSchema;
  inputs: DatedSegmentInput[];
  rowGroupSize?: number;
  /** Told after each file is in place, before anything is announced (crash-injection point in tests). */
  onWritten?: (segment: SegmentWritten) => void | Promise<void>;
}

/** Sorts each date's rows into segment order and writes one atomic segment file per date. */
export async function writeDatedSegments(
  codec: SegmentCodec,
  input: WriteDatedSegmentsInput,
): Promise<SegmentWritten[]> {
  const written: SegmentWritten[] = [];
  for (const { date, ranges, rows } of input.inputs) {
    sortSegmentRows(input.schema, rows);
    const segment = await writeSegment(codec, {
      root: input.root,
      project: input.project,
      schema: input.schema,
      date,
      ranges,
      rows: [rows],
      segmentId: flushedSegmentId(input.schema.view, date, ranges),
      ...(input.rowGroupSize === undefined ? {} : { rowGroupSize: input.rowGroupSize }),
    });
    await input.onWritten?.(segment);
    written.push(segment);
  }
  return written;
}
