/**
 * The segment catalog fold as it was before the in-place fold (commit c1c420c), kept only as this
 * bench's baseline: every event copies the view's live map and the set of seen ids, and scans every live
 * segment of the view for overlaps. Not used by any code.
 */
import {
  formatRange,
  intersectRanges,
  normalizeRanges,
  offsetRangesProblem,
  sameRanges,
  type IgnoredReason,
  type OffsetRange,
  type SegmentCatalog,
  type SegmentEvent,
  type SegmentWritten,
} from '@featurelog/offline-store';

/**
 * Applies one segment event. The fold never double-counts: an announcement whose ranges overlap a live
 * segment of its view (a crash between writing a file and announcing it, then the same work redone and
 * announced twice), a reused segment id, or a merge that does not exactly replace live segments is
 * ignored and recorded. Since the decision depends only on the state and the event, every consumer of the
 * segments topic arrives at the same catalog. The state given is not modified.
 */
export function previousEvolveSegmentCatalog(state: SegmentCatalog, event: SegmentEvent): SegmentCatalog {
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
