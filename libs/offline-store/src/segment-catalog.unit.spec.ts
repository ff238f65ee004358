import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FeaturelogError } from '@featurelog/domain';
import {
  assertSegmentCoverage,
  foldSegmentEvents,
  liveSegments,
  segmentCoverage,
  type OffsetRange,
  type SegmentEvent,
  type SegmentWritten,
} from '@featurelog/offline-store';
import { catalogHolding } from '@featurelog/offline-store/testing';

function written(
  segmentId: string,
  ranges: [number, number, number][],
  view = 'trips',
  date = '2025-01-01',
): SegmentWritten {
  return {
    type: 'SegmentWritten',
    segmentId,
    view,
    path: `demo/${view}/date=${date}/${segmentId}.parquet`,
    date,
    ranges: ranges.map(([partition, fromOffset, untilOffset]): OffsetRange => ({ partition, fromOffset, untilOffset })),
    minEventTime: 1,
    maxEventTime: 2,
    rowCount: 10,
    checksum: 'ab'.repeat(32),
    bytes: 1000,
    writtenAt: 3,
  };
}

const merged = (into: SegmentWritten, replaced: string[]): SegmentEvent => ({
  type: 'SegmentsMerged',
  mergedInto: into,
  replaced,
});
const ids = (segments: SegmentWritten[]) => segments.map((s) => s.segmentId);

describe('segment catalog fold', () => {
  it('keeps announced segments live per view and reports contiguous coverage', () => {
    const catalog = foldSegmentEvents([
      written('a', [[0, 0, 100]]),
      written('b', [
        [0, 100, 150],
        [1, 0, 40],
      ]),
      written('x', [[0, 0, 5]], 'other_view'),
    ]);
    assert.deepEqual(ids(liveSegments(catalog, 'trips')), ['a', 'b']);
    assert.deepEqual(ids(liveSegments(catalog, 'other_view')), ['x']);
    const coverage = segmentCoverage(catalog, 'trips');
    assert.deepEqual(coverage.partitions, [
      { partition: 0, coveredUntil: 150 },
      { partition: 1, coveredUntil: 40 },
    ]);
    assert.deepEqual([coverage.gaps, coverage.overlaps], [[], []]);
    assertSegmentCoverage(coverage);
  });

  it('ignores a redone segment that overlaps a live one, and a re-announced id, recording why', () => {
    // The compactor wrote 'a', crashed before committing its consumer offset, redid the work as 'a2'.
    const events = [
      written('a', [[0, 0, 100]]),
      written('a2', [[0, 0, 100]]),
      written('a', [[0, 0, 100]]),
      written('c', [[0, 50, 120]]),
    ];
    const catalog = foldSegmentEvents(events);
    assert.deepEqual(ids(liveSegments(catalog, 'trips')), ['a']);
    assert.deepEqual(
      catalog.ignored.map(({ index, reason }) => [index, reason]),
      [
        [1, 'OVERLAPS_LIVE_SEGMENT'],
        [2, 'DUPLICATE_SEGMENT_ID'],
        [3, 'OVERLAPS_LIVE_SEGMENT'],
      ],
    );
    assert.match(catalog.ignored[2]!.detail, /p0\[50,100\) is already in segment a/);
    assert.deepEqual(segmentCoverage(catalog, 'trips').partitions, [{ partition: 0, coveredUntil: 100 }]);
    // Deterministic: the same events fold to the same catalog.
    assert.deepEqual(foldSegmentEvents(events), catalog);
  });

  it('swaps merged segments for the merge result, and ignores a replayed or mismatched merge', () => {
    const a = written('a', [[0, 0, 100]]);
    const b = written('b', [[0, 100, 200]]);
    const c = written('c', [[1, 0, 10]]);
    const m = written('m', [[0, 0, 200]]);
    const wrong = written('w', [[0, 0, 199]]);
    const catalog = foldSegmentEvents([
      a,
      b,
      c,
      merged(wrong, ['a', 'b']),
      merged(m, ['a', 'b']),
      merged(written('m2', [[0, 0, 200]]), ['a', 'b']),
      merged(written('m3', [[1, 0, 10]]), ['c', 'ghost']),
    ]);
    assert.deepEqual(ids(liveSegments(catalog, 'trips')), ['c', 'm']);
    assert.deepEqual(
      catalog.ignored.map((i) => i.reason),
      ['MERGE_RANGES_MISMATCH', 'MERGE_REPLACES_UNKNOWN_SEGMENT', 'MERGE_REPLACES_UNKNOWN_SEGMENT'],
    );
    // A replaced segment's id can never come back.
    const again = foldSegmentEvents([written('a', [[0, 500, 600]])], catalog);
    assert.equal(again.ignored.at(-1)!.reason, 'DUPLICATE_SEGMENT_ID');
    assert.deepEqual(segmentCoverage(catalog, 'trips').partitions, [
      { partition: 0, coveredUntil: 200 },
      { partition: 1, coveredUntil: 10 },
    ]);
  });

  it('refuses a merge that takes segments of another view', () => {
    const catalog = foldSegmentEvents([
      written('a', [[0, 0, 10]]),
      written('x', [[0, 10, 20]], 'other_view'),
      merged(written('m', [[0, 0, 20]]), ['a', 'x']),
    ]);
    assert.equal(catalog.ignored[0]!.reason, 'MERGE_ACROSS_VIEWS');
    assert.deepEqual(ids(liveSegments(catalog, 'trips')), ['a']);
  });

  it('reports gaps with the covered prefix ending at the first one, and honours the log start', () => {
    const catalog = foldSegmentEvents([
      written('a', [[0, 0, 100]]),
      written('b', [[0, 130, 200]]),
      written('c', [[1, 10, 20]]),
      written('bad', [[2, 5, 5]]),
    ]);
    assert.equal(catalog.ignored[0]!.reason, 'INVALID_RANGES');
    const coverage = segmentCoverage(catalog, 'trips');
    assert.deepEqual(coverage.partitions, [
      { partition: 0, coveredUntil: 100 },
      { partition: 1, coveredUntil: 0 },
    ]);
    assert.deepEqual(coverage.gaps, [
      { partition: 0, fromOffset: 100, untilOffset: 130 },
      { partition: 1, fromOffset: 0, untilOffset: 10 },
    ]);
    assert.throws(
      () => assertSegmentCoverage(coverage),
      (error: unknown) =>
        error instanceof FeaturelogError &&
        error.code === 'SEGMENT_COVERAGE_BROKEN' &&
        /gap p0\[100,130\); gap p1\[0,10\)/.test(error.message),
    );
    const fromTen = segmentCoverage(catalog, 'trips', { logStartOffsets: { 1: 10 } });
    assert.deepEqual(fromTen.partitions[1], { partition: 1, coveredUntil: 20 });
  });

  it('lists overlaps in a catalog that somehow holds them', () => {
    // The fold never builds this; coverage must still say so rather than trust it.
    const a = written('a', [[0, 0, 100]]);
    const b = written('b', [[0, 90, 150]]);
    const catalog = catalogHolding('trips', [a, b]);
    const coverage = segmentCoverage(catalog, 'trips');
    assert.deepEqual(coverage.overlaps, [{ partition: 0, fromOffset: 90, untilOffset: 100, segmentIds: ['a', 'b'] }]);
    assert.deepEqual(coverage.partitions, [{ partition: 0, coveredUntil: 150 }]);
    assert.throws(() => assertSegmentCoverage(coverage), /overlap p0\[90,100\) in segments a, b/);
  });

  it('is JSON-serialisable event data', () => {
    const event = merged(written('m', [[0, 0, 10]]), ['a']);
    assert.deepEqual(JSON.parse(JSON.stringify(event)), event);
  });
});
