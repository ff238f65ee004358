import { FeaturelogError, mergeSorted } from '@featurelog/domain';
import type { SegmentCodec } from './segment-codec.port';
import type { SegmentsMerged, SegmentWritten } from './segment-events';
import { liveSegments, type SegmentCatalog } from './segment-catalog';
import { readSegment, readSegmentSchema, writeSegment, nowMicros } from './segment-files';
import { compareSegmentRows } from './segment-schema';

export interface MergePlanOptions {
  /** Segments below this size are merge candidates. */
  smallSegmentBytes?: number;
  /** A merge stops adding inputs before their sizes add up past this. */
  maxMergedBytes?: number;
  maxSegmentsPerMerge?: number;
  /** Fewer inputs than this is not worth a rewrite. */
  minSegmentsPerMerge?: number;
}

export interface MergePlan {
  view: string;
  date: string;
  /** In log order; at least `minSegmentsPerMerge`. */
  segments: SegmentWritten[];
}

/**
 * Groups runs of small, adjacent live segments of one view and date. Segments are ordered by where they
 * start in the log (lowest partition, then offset); a segment that is not small ends a run, so a merge
 * never reaches over a large segment.
 */
export function planSegmentMerges(
  catalog: SegmentCatalog,
  view: string,
  {
    smallSegmentBytes = 16 * 2 ** 20,
    maxMergedBytes = 128 * 2 ** 20,
    maxSegmentsPerMerge = 32,
    minSegmentsPerMerge = 2,
  }: MergePlanOptions = {},
): MergePlan[] {
  const byDate = new Map<string, SegmentWritten[]>();
  for (const segment of liveSegments(catalog, view)) {
    const sameDate = byDate.get(segment.date);
    if (sameDate === undefined) byDate.set(segment.date, [segment]);
    else sameDate.push(segment);
  }
  const plans: MergePlan[] = [];
  for (const date of [...byDate.keys()].sort()) {
    const ordered = byDate
      .get(date)!
      .sort((a, b) => logStart(a) - logStart(b) || a.segmentId.localeCompare(b.segmentId));
    let group: SegmentWritten[] = [];
    let groupBytes = 0;
    const close = () => {
      if (group.length >= minSegmentsPerMerge) plans.push({ view, date, segments: group });
      group = [];
      groupBytes = 0;
    };
    for (const segment of ordered) {
      if (segment.bytes >= smallSegmentBytes) {
        close();
        continue;
      }
      if (group.length === maxSegmentsPerMerge || groupBytes + segment.bytes > maxMergedBytes) close();
      group.push(segment);
      groupBytes += segment.bytes;
    }
    close();
  }
  return plans;
}

/** Rows per batch of a merge when the caller names no row group size. */
const MERGE_BATCH_ROWS = 65_536;

/** Position of a segment's first offset, comparable across segments: partition-major. */
function logStart(segment: SegmentWritten): number {
  const first = segment.ranges.reduce((a, b) =>
    b.partition < a.partition || (b.partition === a.partition && b.fromOffset < a.fromOffset) ? b : a,
  );
  return first.partition * 2 ** 40 + first.fromOffset;
}

export interface MergeSegmentsInput {
  root: string;
  project: string;
  plan: MergePlan;
  segmentId?: string;
  rowGroupSize?: number;
  now?: () => number;
}

/**
 * Rewrites the planned segments as one sorted segment by a streaming k-way merge (one row group per input
 * in memory), and returns the event that swaps them in the catalog. Each input is checksum-verified.
 */
export async function mergeSegments(codec: SegmentCodec, input: MergeSegmentsInput): Promise<SegmentsMerged> {
  const { root, project, plan, now = nowMicros } = input;
  if (plan.segments.length === 0)
    throw new FeaturelogError('SEGMENT_MERGE_INVALID', `merge plan for ${plan.view} ${plan.date} is empty`);
  for (const segment of plan.segments) {
    if (segment.view !== plan.view || segment.date !== plan.date) {
      throw new FeaturelogError(
        'SEGMENT_MERGE_INVALID',
        `segment ${segment.path} is not of view ${plan.view} and date ${plan.date}`,
      );
    }
  }
  // Segments written before the change-data-capture columns merge with newer ones: they read as rows
  // without a source position, not deleted, and the merged segment has the columns.
  const schemas = (await Promise.all(plan.segments.map((segment) => readSegmentSchema(codec, root, segment)))).map(
    (read) => ({ ...read, changes: true }),
  );
  const schema = schemas[0]!;
  schemas.forEach((other, i) => {
    if (JSON.stringify(other) !== JSON.stringify(schema)) {
      throw new FeaturelogError(
        'SEGMENT_SCHEMA_MISMATCH',
        `segment ${plan.segments[i]!.path} has a different schema from ${plan.segments[0]!.path}; they cannot be merged`,
      );
    }
  });
  const mergedInto = await writeSegment(codec, {
    root,
    project,
    schema,
    date: plan.date,
    ranges: plan.segments.flatMap((segment) => segment.ranges),
    rows: mergeSorted(
      plan.segments.map((segment) => readSegment(codec, root, segment)),
      (a, b) => compareSegmentRows(schema, a, b),
      { batchSize: input.rowGroupSize ?? MERGE_BATCH_ROWS },
    ),
    segmentId: input.segmentId,
    rowGroupSize: input.rowGroupSize,
    now,
  });
  return { type: 'SegmentsMerged', mergedInto, replaced: plan.segments.map((segment) => segment.segmentId) };
}
