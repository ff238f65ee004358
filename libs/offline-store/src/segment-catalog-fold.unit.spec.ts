import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  copySegmentCatalog,
  evolveSegmentCatalogInPlace,
  foldSegmentEvents,
  formatRange,
  initialSegmentCatalog,
  intersectRanges,
  normalizeRanges,
  offsetRangesProblem,
  sameRanges,
  type IgnoredSegmentEvent,
  type OffsetRange,
  type SegmentCatalog,
  type SegmentEvent,
  type SegmentWritten,
} from '@featurelog/offline-store';
import { catalogHolding } from '@featurelog/offline-store/testing';
import { seededRandom } from '@featurelog/testing';

/**
 * The fold's rule stated the slow, obvious way: copy everything, and look for overlaps by comparing the
 * event's ranges with every range of every live segment of its view, in announcement order.
 */
function oracleEvolve(state: SegmentCatalog, event: SegmentEvent): SegmentCatalog {
  const index = state.eventCount;
  const ignore = (reason: IgnoredSegmentEvent['reason'], detail: string): SegmentCatalog => ({
    ...state,
    ignored: [...state.ignored, { index, event, reason, detail }],
    eventCount: index + 1,
  });
  const written = event.type === 'SegmentWritten' ? event : event.mergedInto;
  if (state.seen.has(written.segmentId)) {
    return ignore('DUPLICATE_SEGMENT_ID', `segment ${written.segmentId} was already announced`);
  }
  const problem = offsetRangesProblem(written.ranges);
  if (problem) return ignore('INVALID_RANGES', problem);
  const next = new Map(state.live.get(written.view) ?? []);
  if (event.type === 'SegmentsMerged') {
    const union: OffsetRange[] = [];
    for (const id of new Set(event.replaced)) {
      const segment = next.get(id);
      if (!segment) {
        return [...state.live.values()].some((segments) => segments.has(id))
          ? ignore('MERGE_ACROSS_VIEWS', `segment ${id} is not a segment of view ${written.view}`)
          : ignore('MERGE_REPLACES_UNKNOWN_SEGMENT', `segment ${id} is not live in view ${written.view}`);
      }
      union.push(...segment.ranges);
      next.delete(id);
    }
    if (!sameRanges(union, written.ranges)) {
      return ignore(
        'MERGE_RANGES_MISMATCH',
        `merged ranges ${normalizeRanges(written.ranges).map(formatRange).join(' ')} differ from the replaced ` +
          `segments' ${normalizeRanges(union).map(formatRange).join(' ')}`,
      );
    }
  }
  const clashes: string[] = [];
  for (const segment of next.values()) {
    for (const theirs of segment.ranges) {
      for (const ours of written.ranges) {
        const range = intersectRanges(theirs, ours);
        if (range) clashes.push(`${formatRange(range)} is already in segment ${segment.segmentId}`);
      }
    }
  }
  if (clashes.length > 0) return ignore('OVERLAPS_LIVE_SEGMENT', clashes.join('; '));
  next.set(written.segmentId, written);
  const live = new Map(state.live);
  live.set(written.view, next);
  return { live, seen: new Set(state.seen).add(written.segmentId), ignored: state.ignored, eventCount: index + 1 };
}

const VIEWS = ['trips', 'drivers', 'riders'];

function segment(id: string, view: string, ranges: OffsetRange[]): SegmentWritten {
  return {
    type: 'SegmentWritten',
    segmentId: id,
    view,
    path: `demo/${view}/date=2025-01-01/${id}.parquet`,
    date: '2025-01-01',
    ranges,
    minEventTime: 1,
    maxEventTime: 2,
    rowCount: 1,
    checksum: 'ab'.repeat(32),
    bytes: 10,
    writtenAt: 3,
  };
}

/**
 * Random events against the catalog folded so far (from the oracle): announcements that often overlap
 * (small offset space), compactor-like contiguous announcements, reused ids, malformed ranges, and merges
 * of live segments that are exact, or wrong in each way the fold refuses.
 */
function randomEvents(seed: number, count: number): SegmentEvent[] {
  const next = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  const int = (below: number) => Math.floor(next() * below);
  const cursor = new Map<string, number>();
  let state: SegmentCatalog = initialSegmentCatalog();
  let ids = 0;
  const events: SegmentEvent[] = [];
  const randomRanges = (): OffsetRange[] =>
    Array.from({ length: 1 + int(3) }, () => {
      const fromOffset = int(300);
      return { partition: int(3), fromOffset, untilOffset: fromOffset + 1 + int(20) };
    });
  for (let i = 0; i < count; i++) {
    const view = pick(VIEWS);
    const live = [...(state.live.get(view)?.values() ?? [])];
    const roll = next();
    let event: SegmentEvent;
    if (roll < 0.35) {
      event = segment(`s${ids++}`, view, randomRanges());
    } else if (roll < 0.6) {
      const partition = int(3);
      const key = `${view}/${partition}`;
      const fromOffset = cursor.get(key) ?? 0;
      const untilOffset = fromOffset + 1 + int(5);
      cursor.set(key, untilOffset);
      event = segment(`s${ids++}`, view, [{ partition, fromOffset, untilOffset }]);
    } else if (roll < 0.65) {
      const seen = [...state.seen];
      event = segment(seen.length > 0 ? pick(seen) : `s${ids++}`, view, randomRanges());
    } else if (roll < 0.7) {
      const from = int(100);
      event = segment(
        `s${ids++}`,
        view,
        pick([
          [{ partition: 0, fromOffset: from, untilOffset: from }],
          [{ partition: -1, fromOffset: from, untilOffset: from + 1 }],
          [
            { partition: 1, fromOffset: from, untilOffset: from + 5 },
            { partition: 1, fromOffset: from + 2, untilOffset: from + 9 },
          ],
        ]),
      );
    } else {
      const replaced = live.filter(() => next() < 0.3).slice(0, 4);
      if (replaced.length === 0 && live.length > 0) replaced.push(pick(live));
      let ranges = replaced.flatMap((s) => s.ranges.map((r) => ({ ...r })));
      const replacedIds = replaced.map((s) => s.segmentId);
      const flaw = next();
      if (flaw < 0.1 && ranges.length > 0) ranges[0]!.untilOffset += 1;
      else if (flaw < 0.15) replacedIds.push(`s${ids + 1000}`);
      else if (flaw < 0.2) {
        const other = [...(state.live.get(pick(VIEWS.filter((v) => v !== view)))?.keys() ?? [])];
        if (other.length > 0) replacedIds.push(pick(other));
      } else if (flaw < 0.25 && replacedIds.length > 0) replacedIds.push(replacedIds[0]!);
      else if (flaw < 0.3) ranges = normalizeRanges(ranges);
      event = { type: 'SegmentsMerged', mergedInto: segment(`m${ids++}`, view, ranges), replaced: replacedIds };
    }
    events.push(event);
    state = oracleEvolve(state, event);
  }
  return events;
}

/** The catalog as plain data, announcement order included, so deepEqual compares exactly that. */
function snapshot(catalog: SegmentCatalog) {
  return {
    live: [...catalog.live].map(([view, segments]) => [view, [...segments.keys()]]),
    seen: [...catalog.seen].sort(),
    ignored: catalog.ignored.map(({ index, reason, detail }) => ({ index, reason, detail })),
    eventCount: catalog.eventCount,
  };
}

describe('segment catalog fold against its oracle', () => {
  it('reaches the oracle catalog after every event, over randomized sequences', () => {
    let refusals = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const events = randomEvents(seed, 400);
      let expected: SegmentCatalog = initialSegmentCatalog();
      const actual = initialSegmentCatalog();
      events.forEach((event, i) => {
        expected = oracleEvolve(expected, event);
        evolveSegmentCatalogInPlace(actual, event);
        assert.deepEqual(snapshot(actual), snapshot(expected), `seed ${seed}, event ${i}`);
      });
      refusals += actual.ignored.length;
    }
    assert.ok(refusals > 0);
  });

  it('every kind of refusal occurs in the random sequences, so the comparison covers each', () => {
    const reasons = new Set<string>();
    for (let seed = 1; seed <= 40; seed++) {
      for (const ignored of foldSegmentEvents(randomEvents(seed, 400)).ignored) reasons.add(ignored.reason);
    }
    assert.deepEqual([...reasons].sort(), [
      'DUPLICATE_SEGMENT_ID',
      'INVALID_RANGES',
      'MERGE_ACROSS_VIEWS',
      'MERGE_RANGES_MISMATCH',
      'MERGE_REPLACES_UNKNOWN_SEGMENT',
      'OVERLAPS_LIVE_SEGMENT',
    ]);
  });

  it('continues from a catalog it did not fold itself, and leaves the catalog it is given unchanged', () => {
    for (let seed = 100; seed < 110; seed++) {
      const events = randomEvents(seed, 300);
      const half = foldSegmentEvents(events.slice(0, 150));
      const before = snapshot(half);
      // A plain copy has no index yet: the fold must build it from the live segments alone.
      const resumed = foldSegmentEvents(events.slice(150), copySegmentCatalog(half));
      const fromHalf = foldSegmentEvents(events.slice(150), half);
      assert.deepEqual(snapshot(half), before, 'the given catalog is not modified');
      const expected = events.reduce(oracleEvolve, initialSegmentCatalog() as SegmentCatalog);
      assert.deepEqual(snapshot(resumed), snapshot(expected));
      assert.deepEqual(snapshot(fromHalf), snapshot(expected));
    }
  });

  it('reports every clash of a catalog that already holds overlapping segments, as the oracle does', () => {
    const a = segment('a', 'trips', [{ partition: 0, fromOffset: 0, untilOffset: 100 }]);
    const b = segment('b', 'trips', [{ partition: 0, fromOffset: 90, untilOffset: 150 }]);
    const handMade = catalogHolding('trips', [a, b]);
    const events: SegmentEvent[] = [
      segment('c', 'trips', [{ partition: 0, fromOffset: 95, untilOffset: 96 }]),
      { type: 'SegmentsMerged', mergedInto: segment('m', 'trips', a.ranges), replaced: ['a'] },
      segment('d', 'trips', [{ partition: 0, fromOffset: 150, untilOffset: 160 }]),
    ];
    const expected = events.reduce(oracleEvolve, handMade);
    assert.deepEqual(snapshot(foldSegmentEvents(events, handMade)), snapshot(expected));
    assert.match(
      expected.ignored[0]!.detail,
      /p0\[95,96\) is already in segment a; p0\[95,96\) is already in segment b/,
    );
  });
});
