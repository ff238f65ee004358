import { FeaturelogError } from '@featurelog/domain';
import type { OffsetRange, SegmentEvent, SegmentWritten } from './segment-events';
import { formatRange, intersectRanges, normalizeRanges, offsetRangesProblem, sameRanges } from './offset-ranges';

/** Why the fold passed over an event instead of applying it. */
export type IgnoredReason =
  | 'DUPLICATE_SEGMENT_ID'
  | 'INVALID_RANGES'
  | 'OVERLAPS_LIVE_SEGMENT'
  | 'MERGE_REPLACES_UNKNOWN_SEGMENT'
  | 'MERGE_ACROSS_VIEWS'
  | 'MERGE_RANGES_MISMATCH';

export interface IgnoredSegmentEvent {
  /** Position of the event in the folded sequence (0-based). */
  index: number;
  event: SegmentEvent;
  reason: IgnoredReason;
  detail: string;
}

/**
 * The live segments of every view: those announced and not since replaced by a merge. Ignored events are
 * kept with their reason, so an operator can see (and a janitor can delete) files that never counted.
 */
export interface SegmentCatalog {
  /** view → segment id → segment, in announcement order. */
  live: ReadonlyMap<string, ReadonlyMap<string, SegmentWritten>>;
  /** Every segment id ever applied, live or replaced: a re-announcement of any of them is a duplicate. */
  seen: ReadonlySet<string>;
  ignored: readonly IgnoredSegmentEvent[];
  /** Events folded so far, applied or ignored. */
  eventCount: number;
}

export function initialSegmentCatalog(): SegmentCatalog {
  return { live: new Map(), seen: new Set(), ignored: [], eventCount: 0 };
}

/**
 * Applies one segment event. The fold never double-counts: an announcement whose ranges overlap a live
 * segment of its view (a crash between writing a file and announcing it, then the same work redone and
 * announced twice), a reused segment id, or a merge that does not exactly replace live segments is
 * ignored and recorded. Since the decision depends only on the state and the event, every consumer of the
 * segments topic arrives at the same catalog. The state given is not modified.
 */
export function evolveSegmentCatalog(state: SegmentCatalog, event: SegmentEvent): SegmentCatalog {
  const index = state.eventCount;
  const ignore = (reason: IgnoredReason, detail: string): SegmentCatalog => ({
    ...state,
    ignored: [...state.ignored, { index, event, reason, detail }],
    eventCount: index + 1,
  });
  const written = event.type === 'SegmentWritten' ? event : event.mergedInto;
  const viewLive = state.live.get(written.view) ?? new Map<string, SegmentWritten>();

  if (state.seen.has(written.segmentId))
    return ignore('DUPLICATE_SEGMENT_ID', `segment ${written.segmentId} was already announced`);
  const problem = offsetRangesProblem(written.ranges);
  if (problem) return ignore('INVALID_RANGES', problem);

  const next = new Map(viewLive);
  if (event.type === 'SegmentsMerged') {
    const replaced: SegmentWritten[] = [];
    for (const id of new Set(event.replaced)) {
      const segment = viewLive.get(id);
      if (!segment) {
        const elsewhere = [...state.live.values()].some((segments) => segments.has(id));
        return elsewhere
          ? ignore('MERGE_ACROSS_VIEWS', `segment ${id} is not a segment of view ${written.view}`)
          : ignore('MERGE_REPLACES_UNKNOWN_SEGMENT', `segment ${id} is not live in view ${written.view}`);
      }
      replaced.push(segment);
      next.delete(id);
    }
    const union = replaced.flatMap((segment) => segment.ranges);
    if (!sameRanges(union, written.ranges)) {
      return ignore(
        'MERGE_RANGES_MISMATCH',
        `merged ranges ${normalizeRanges(written.ranges).map(formatRange).join(' ')} differ from the replaced ` +
          `segments' ${normalizeRanges(union).map(formatRange).join(' ')}`,
      );
    }
  }

  const clashes = overlapsWith(next.values(), written.ranges);
  if (clashes.length > 0) {
    return ignore(
      'OVERLAPS_LIVE_SEGMENT',
      clashes.map(({ segmentId, range }) => `${formatRange(range)} is already in segment ${segmentId}`).join('; '),
    );
  }
  next.set(written.segmentId, written);
  const live = new Map(state.live);
  live.set(written.view, next);
  return { live, seen: new Set(state.seen).add(written.segmentId), ignored: state.ignored, eventCount: index + 1 };
}

export function foldSegmentEvents(events: Iterable<SegmentEvent>, state = initialSegmentCatalog()): SegmentCatalog {
  let result = state;
  for (const event of events) result = evolveSegmentCatalog(result, event);
  return result;
}

/** The live segments of a view, in announcement order. */
export function liveSegments(catalog: SegmentCatalog, view: string): SegmentWritten[] {
  return [...(catalog.live.get(view)?.values() ?? [])];
}

function overlapsWith(segments: Iterable<SegmentWritten>, ranges: readonly OffsetRange[]) {
  const clashes: { segmentId: string; range: OffsetRange }[] = [];
  for (const segment of segments) {
    for (const theirs of segment.ranges) {
      for (const ours of ranges) {
        const range = intersectRanges(theirs, ours);
        if (range) clashes.push({ segmentId: segment.segmentId, range });
      }
    }
  }
  return clashes;
}

export interface PartitionCoverage {
  partition: number;
  /** Offsets from the partition's start up to here (exclusive) are in segments; the log tail starts here. */
  coveredUntil: number;
}

export interface CoverageGap {
  partition: number;
  fromOffset: number;
  untilOffset: number;
}

export interface CoverageOverlap extends CoverageGap {
  segmentIds: string[];
}

export interface Coverage {
  view: string;
  partitions: PartitionCoverage[];
  /** Holes between covered ranges (never the uncovered tail after the last range). */
  gaps: CoverageGap[];
  /** Offsets in more than one live segment; the fold keeps this empty, so any entry means a bug. */
  overlaps: CoverageOverlap[];
}

export interface CoverageOptions {
  /** First offset of each partition in the log; 0 where absent (feature topics keep everything). */
  logStartOffsets?: Record<number, number>;
}

/**
 * Which offsets of each partition the live segments of a view cover. Exports read segments up to
 * `coveredUntil` and the log from there; gaps and overlaps mean segments would lose or double rows.
 */
export function segmentCoverage(
  catalog: SegmentCatalog,
  view: string,
  { logStartOffsets = {} }: CoverageOptions = {},
): Coverage {
  const byPartition = new Map<number, { range: OffsetRange; segmentId: string }[]>();
  for (const segment of liveSegments(catalog, view)) {
    for (const range of segment.ranges) {
      const list = byPartition.get(range.partition) ?? [];
      list.push({ range, segmentId: segment.segmentId });
      byPartition.set(range.partition, list);
    }
  }
  const coverage: Coverage = { view, partitions: [], gaps: [], overlaps: [] };
  for (const partition of [...byPartition.keys()].sort((a, b) => a - b)) {
    const entries = byPartition.get(partition)!.sort((a, b) => a.range.fromOffset - b.range.fromOffset);
    const start = logStartOffsets[partition] ?? 0;
    let reached = start;
    let coveredUntil: number | undefined;
    let owners: { untilOffset: number; segmentId: string }[] = [];
    for (const { range, segmentId } of entries) {
      // Ranges come by start offset, so an owner that ends before this one starts can clash with no later range.
      owners = owners.filter((owner) => owner.untilOffset > range.fromOffset);
      if (range.fromOffset > reached) {
        coverage.gaps.push({ partition, fromOffset: reached, untilOffset: range.fromOffset });
        coveredUntil ??= reached;
      }
      for (const owner of owners) {
        const untilOffset = Math.min(owner.untilOffset, range.untilOffset);
        coverage.overlaps.push({
          partition,
          fromOffset: range.fromOffset,
          untilOffset,
          segmentIds: [owner.segmentId, segmentId],
        });
      }
      owners.push({ untilOffset: range.untilOffset, segmentId });
      reached = Math.max(reached, range.untilOffset);
    }
    coverage.partitions.push({ partition, coveredUntil: coveredUntil ?? reached });
  }
  return coverage;
}

/** Throws SEGMENT_COVERAGE_BROKEN listing every gap and overlap, if there is any. */
export function assertSegmentCoverage(coverage: Coverage): void {
  if (coverage.gaps.length === 0 && coverage.overlaps.length === 0) return;
  const lines = [
    ...coverage.gaps.map((gap) => `gap ${formatRange(gap)}`),
    ...coverage.overlaps.map((o) => `overlap ${formatRange(o)} in segments ${o.segmentIds.join(', ')}`),
  ];
  throw new FeaturelogError(
    'SEGMENT_COVERAGE_BROKEN',
    `segments of view ${coverage.view} do not cover the log exactly once: ${lines.join('; ')}`,
  );
}
