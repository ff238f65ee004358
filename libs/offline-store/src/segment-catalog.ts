import { FeaturelogError } from '@featurelog/domain';
import { OffsetIntervalIndex } from './offset-interval-index';
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

/**
 * A catalog that one owner folds in place with evolveSegmentCatalogInPlace (a SegmentLog, a reader that
 * folds a topic once). Change it only through that function: it keeps an index beside the catalog.
 */
export interface MutableSegmentCatalog extends SegmentCatalog {
  live: Map<string, Map<string, SegmentWritten>>;
  seen: Set<string>;
  ignored: IgnoredSegmentEvent[];
  eventCount: number;
}

export function initialSegmentCatalog(): MutableSegmentCatalog {
  return { live: new Map(), seen: new Set(), ignored: [], eventCount: 0 };
}

/** A catalog equal to `catalog` that shares no collection with it, to fold on without changing it. */
export function copySegmentCatalog(catalog: SegmentCatalog): MutableSegmentCatalog {
  return {
    live: new Map([...catalog.live].map(([view, segments]) => [view, new Map(segments)])),
    seen: new Set(catalog.seen),
    ignored: [...catalog.ignored],
    eventCount: catalog.eventCount,
  };
}

/** What an announcement replaces: shared by every announcement, so never added to. */
const NOTHING_REPLACED: Set<string> = new Set();

/**
 * Applies one segment event to `state` itself. The fold never double-counts: an announcement whose ranges
 * overlap a live segment of its view (a crash between writing a file and announcing it, then the same
 * work redone and announced twice), a reused segment id, or a merge that does not exactly replace live
 * segments is ignored and recorded. Since the decision depends only on the state and the event, every
 * consumer of the segments topic arrives at the same catalog.
 *
 * Cost: O(r log n) for an event with r ranges (merges: plus the replaced segments' ranges), n being the
 * live ranges of the event's view; the ranges already covered are looked up in a per-partition interval
 * index kept beside the state, never by scanning the live segments. Segments and ignored records are
 * replaced or appended, never changed, so one taken earlier stays as it was.
 */
export function evolveSegmentCatalogInPlace(state: MutableSegmentCatalog, event: SegmentEvent): void {
  const index = state.eventCount;
  const catalogIndex = catalogIndexOf(state);
  state.eventCount = index + 1;
  const ignore = (reason: IgnoredReason, detail: string): void => {
    state.ignored.push({ index, event, reason, detail });
  };
  const written = event.type === 'SegmentWritten' ? event : event.mergedInto;

  if (state.seen.has(written.segmentId))
    return ignore('DUPLICATE_SEGMENT_ID', `segment ${written.segmentId} was already announced`);
  const problem = offsetRangesProblem(written.ranges);
  if (problem) return ignore('INVALID_RANGES', problem);

  const viewLive = state.live.get(written.view);
  const replaced = event.type === 'SegmentsMerged' ? new Set<string>() : NOTHING_REPLACED;
  if (event.type === 'SegmentsMerged') {
    const union: OffsetRange[] = [];
    for (const id of new Set(event.replaced)) {
      const segment = viewLive?.get(id);
      if (!segment) {
        return catalogIndex.liveById.has(id)
          ? ignore('MERGE_ACROSS_VIEWS', `segment ${id} is not a segment of view ${written.view}`)
          : ignore('MERGE_REPLACES_UNKNOWN_SEGMENT', `segment ${id} is not live in view ${written.view}`);
      }
      replaced.add(id);
      union.push(...segment.ranges);
    }
    if (!sameRanges(union, written.ranges)) {
      return ignore(
        'MERGE_RANGES_MISMATCH',
        `merged ranges ${normalizeRanges(written.ranges).map(formatRange).join(' ')} differ from the replaced ` +
          `segments' ${normalizeRanges(union).map(formatRange).join(' ')}`,
      );
    }
  }

  const clashes = catalogIndex.clashes(written.view, written.ranges, replaced);
  if (clashes.length > 0) {
    return ignore(
      'OVERLAPS_LIVE_SEGMENT',
      clashes.map(({ segmentId, range }) => `${formatRange(range)} is already in segment ${segmentId}`).join('; '),
    );
  }
  let segments = viewLive;
  if (segments === undefined) {
    segments = new Map();
    state.live.set(written.view, segments);
  }
  for (const id of replaced) {
    segments.delete(id);
    catalogIndex.remove(id);
  }
  segments.set(written.segmentId, written);
  catalogIndex.add(written);
  state.seen.add(written.segmentId);
}

/**
 * Folds the events onto a copy of `state` (a fresh catalog by default); `state` itself is not modified.
 * Linear-logarithmic in the events, whatever their number.
 */
export function foldSegmentEvents(
  events: Iterable<SegmentEvent>,
  state: SegmentCatalog = initialSegmentCatalog(),
): MutableSegmentCatalog {
  const result = copySegmentCatalog(state);
  for (const event of events) evolveSegmentCatalogInPlace(result, event);
  return result;
}

/** The live segments of a view, in announcement order. */
export function liveSegments(catalog: SegmentCatalog, view: string): SegmentWritten[] {
  return [...(catalog.live.get(view)?.values() ?? [])];
}

interface LiveEntry {
  view: string;
  /** Announcement order within the view: clashes are reported in it, as the live map iterates. */
  order: number;
  /** Where each of the segment's ranges sits in its partition's interval index. */
  held: { partition: number; fromOffset: number; id: number }[];
}

interface HeldSegmentRange {
  segmentId: string;
  order: number;
  /** Position of the range in the segment's `ranges`. */
  rangeIndex: number;
  range: OffsetRange;
}

/** What the fold needs to decide an event without scanning the catalog: kept beside one catalog object. */
class CatalogIndex {
  /** Live segment id → where it lives; a segment id is live in one view at most. */
  readonly liveById = new Map<string, LiveEntry>();
  /** view → partition → ranges of the view's live segments. */
  private readonly byView = new Map<string, Map<number, OffsetIntervalIndex<HeldSegmentRange>>>();
  private nextId = 0;
  /** Views iterate their live segments in insertion order; this counts insertions the same way. */
  private nextOrder = 0;

  add(segment: SegmentWritten): void {
    const order = this.nextOrder++;
    let partitions = this.byView.get(segment.view);
    if (partitions === undefined) {
      partitions = new Map();
      this.byView.set(segment.view, partitions);
    }
    const held: LiveEntry['held'] = [];
    for (let rangeIndex = 0; rangeIndex < segment.ranges.length; rangeIndex++) {
      const range = segment.ranges[rangeIndex]!;
      let ranges = partitions.get(range.partition);
      if (ranges === undefined) {
        ranges = new OffsetIntervalIndex();
        partitions.set(range.partition, ranges);
      }
      const id = this.nextId++;
      ranges.insert({
        fromOffset: range.fromOffset,
        untilOffset: range.untilOffset,
        id,
        value: { segmentId: segment.segmentId, order, rangeIndex, range },
      });
      held.push({ partition: range.partition, fromOffset: range.fromOffset, id });
    }
    this.liveById.set(segment.segmentId, { view: segment.view, order, held });
  }

  remove(segmentId: string): void {
    const entry = this.liveById.get(segmentId);
    if (entry === undefined) return;
    const partitions = this.byView.get(entry.view)!;
    for (const { partition, fromOffset, id } of entry.held) partitions.get(partition)!.delete(fromOffset, id);
    this.liveById.delete(segmentId);
  }

  /**
   * The parts of `ranges` that live segments of the view (but those in `except`) already hold, ordered as
   * a scan of the live segments in announcement order would find them: segment, its range, our range.
   */
  clashes(view: string, ranges: readonly OffsetRange[], except: ReadonlySet<string>) {
    const partitions = this.byView.get(view);
    if (partitions === undefined) return [];
    const found: { order: number; rangeIndex: number; ours: number; segmentId: string; range: OffsetRange }[] = [];
    for (let oursIndex = 0; oursIndex < ranges.length; oursIndex++) {
      const ours = ranges[oursIndex]!;
      const held = partitions.get(ours.partition);
      if (held === undefined) continue;
      for (const { value } of held.intersecting(ours.fromOffset, ours.untilOffset)) {
        if (except.has(value.segmentId)) continue;
        const range = intersectRanges(value.range, ours)!;
        found.push({
          order: value.order,
          rangeIndex: value.rangeIndex,
          ours: oursIndex,
          segmentId: value.segmentId,
          range,
        });
      }
    }
    return found.sort((a, b) => a.order - b.order || a.rangeIndex - b.rangeIndex || a.ours - b.ours);
  }
}

const catalogIndexes = new WeakMap<SegmentCatalog, CatalogIndex>();

/** The index of a catalog, built once from its live segments the first time the catalog is folded on. */
function catalogIndexOf(catalog: SegmentCatalog): CatalogIndex {
  let index = catalogIndexes.get(catalog);
  if (index === undefined) {
    index = new CatalogIndex();
    for (const segments of catalog.live.values()) {
      for (const segment of segments.values()) index.add(segment);
    }
    catalogIndexes.set(catalog, index);
  }
  return index;
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
