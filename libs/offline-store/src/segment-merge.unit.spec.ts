import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  HyparquetSegmentCodec,
  compareSegmentRows,
  foldSegmentEvents,
  liveSegments,
  mergeSegments,
  planSegmentMerges,
  readSegment,
  segmentCoverage,
  sortSegmentRows,
  writeSegment,
  type SegmentRow,
  type SegmentSchema,
  type SegmentWritten,
} from '@featurelog/offline-store';

const codec = new HyparquetSegmentCodec();
const schema: SegmentSchema = {
  view: 'trips',
  viewVersion: 1,
  joinKeys: [{ name: 'driver', type: 'string' }],
  features: [{ name: 'fare', type: 'float64' }],
};

/** Rows of one partition's offsets [from, until), spread over a few drivers with clashing timestamps. */
function rowsFor(partition: number, from: number, until: number): SegmentRow[] {
  const rows: SegmentRow[] = [];
  for (let offset = from; offset < until; offset++) {
    rows.push({
      joinKeys: { driver: `d${(offset * 7 + partition) % 5}` },
      eventTimestamp: 1_000_000 + (offset % 4) * 10, // equal timestamps across segments on purpose
      createdTimestamp: offset % 3 === 0 ? null : 5,
      partition,
      offset,
      appendTime: 2_000_000 + offset,
      features: { fare: offset % 6 === 0 ? null : offset / 4 },
    });
  }
  return sortSegmentRows(schema, rows);
}

async function readAll(iterable: AsyncIterable<SegmentRow[]>) {
  const rows: SegmentRow[] = [];
  for await (const batch of iterable) rows.push(...batch);
  return rows;
}

describe('segment merge', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'featurelog-merge-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const write = (segmentId: string, partition: number, from: number, until: number, date = '2025-01-01') =>
    writeSegment(codec, {
      root,
      project: 'demo',
      schema,
      date,
      ranges: [{ partition, fromOffset: from, untilOffset: until }],
      rows: [rowsFor(partition, from, until)],
      segmentId,
      rowGroupSize: 7,
    });

  it('merges small segments into one sorted, complete segment that replaces them in the catalog', async () => {
    const segments = [await write('s1', 0, 0, 40), await write('s2', 0, 40, 75), await write('s3', 1, 0, 33)];
    const catalog = foldSegmentEvents(segments);
    const [plan, ...rest] = planSegmentMerges(catalog, 'trips');
    assert.equal(rest.length, 0);
    assert.deepEqual(
      plan!.segments.map((s) => s.segmentId),
      ['s1', 's2', 's3'],
    );

    const event = await mergeSegments(codec, { root, project: 'demo', plan: plan!, segmentId: 'm1', rowGroupSize: 10 });
    assert.deepEqual(event.replaced, ['s1', 's2', 's3']);
    assert.deepEqual(event.mergedInto.ranges, [
      { partition: 0, fromOffset: 0, untilOffset: 75 },
      { partition: 1, fromOffset: 0, untilOffset: 33 },
    ]);
    assert.equal(event.mergedInto.rowCount, 108);

    const merged = await readAll(readSegment(codec, root, event.mergedInto));
    const expected = sortSegmentRows(schema, [...rowsFor(0, 0, 40), ...rowsFor(0, 40, 75), ...rowsFor(1, 0, 33)]);
    assert.deepEqual(merged, expected);
    for (let i = 1; i < merged.length; i++) assert.ok(compareSegmentRows(schema, merged[i - 1]!, merged[i]!) < 0);

    const after = foldSegmentEvents([event], catalog);
    assert.deepEqual(after.ignored, []);
    assert.deepEqual(
      liveSegments(after, 'trips').map((s) => s.segmentId),
      ['m1'],
    );
    assert.deepEqual(segmentCoverage(after, 'trips').partitions, segmentCoverage(catalog, 'trips').partitions);
  });

  it('plans only runs of small segments of one date, split by size and count', () => {
    const segment = (id: string, from: number, bytes: number, date = '2025-01-01'): SegmentWritten => ({
      type: 'SegmentWritten',
      segmentId: id,
      view: 'trips',
      path: `demo/trips/date=${date}/${id}.parquet`,
      date,
      ranges: [{ partition: 0, fromOffset: from, untilOffset: from + 10 }],
      minEventTime: 0,
      maxEventTime: 0,
      rowCount: 10,
      checksum: '',
      bytes,
      writtenAt: 0,
    });
    const MiB = 2 ** 20;
    const catalog = foldSegmentEvents([
      segment('a', 0, 1 * MiB),
      segment('b', 10, 2 * MiB),
      segment('big', 20, 50 * MiB), // ends the run: a merge never reaches over it
      segment('c', 30, 3 * MiB),
      segment('d', 40, 3 * MiB),
      segment('e', 50, 3 * MiB),
      segment('lonely', 60, 1 * MiB, '2025-01-02'),
    ]);
    const plans = planSegmentMerges(catalog, 'trips', { maxMergedBytes: 7 * MiB });
    assert.deepEqual(
      plans.map((p) => [p.date, p.segments.map((s) => s.segmentId)]),
      [
        ['2025-01-01', ['a', 'b']],
        ['2025-01-01', ['c', 'd']],
      ],
    );
    const byCount = planSegmentMerges(catalog, 'trips', { maxSegmentsPerMerge: 2, minSegmentsPerMerge: 1 });
    assert.deepEqual(
      byCount.map((p) => p.segments.map((s) => s.segmentId)),
      [['a', 'b'], ['c', 'd'], ['e'], ['lonely']],
    );
  });
});
