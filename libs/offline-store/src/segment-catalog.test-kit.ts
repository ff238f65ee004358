import type { SegmentCatalog } from './segment-catalog';
import type { SegmentWritten } from './segment-events';

/**
 * A catalog that holds these segments of `view` as given, overlaps and all: one the fold never builds,
 * for checking that what reads or folds a catalog does not trust it to be clean.
 */
export function catalogHolding(view: string, segments: SegmentWritten[]): SegmentCatalog {
  return {
    live: new Map([[view, new Map(segments.map((segment) => [segment.segmentId, segment]))]]),
    seen: new Set(segments.map((segment) => segment.segmentId)),
    ignored: [],
    eventCount: segments.length,
  };
}
