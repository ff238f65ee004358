import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { FeaturelogError, type EntityDefinition, type FeatureViewDefinition } from '@featurelog/domain';
import {
  HyparquetSegmentCodec,
  readSegment,
  segmentSchemaFor,
  sortSegmentRows,
  verifySegment,
  writeSegment,
  type SegmentRow,
} from '@featurelog/offline-store';
import { EVERY_TYPE_SCHEMA, everyTypeRows } from '@featurelog/offline-store/testing';

const codec = new HyparquetSegmentCodec();
const rangesOf = (rows: SegmentRow[]) =>
  [0, 1, 2].map((partition) => ({ partition, fromOffset: 2 ** 40, untilOffset: 2 ** 40 + rows.length }));

async function readAll(iterable: AsyncIterable<SegmentRow[]>) {
  const rows: SegmentRow[] = [];
  for await (const batch of iterable) rows.push(...batch);
  return rows;
}

function rejectsWith(code: string, pattern?: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof FeaturelogError, `expected a FeaturelogError, got ${String(error)}`);
    assert.equal(error.code, code);
    if (pattern) assert.match(error.message, pattern);
    return true;
  };
}

describe('segment files', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'featurelog-segments-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  /** Where and what `rows` are written as: a demo every_type segment of 2025-01-01 over their own ranges. */
  const demoSegment = (rows: SegmentRow[]) => ({
    root,
    project: 'demo',
    schema: EVERY_TYPE_SCHEMA,
    date: '2025-01-01',
    ranges: rangesOf(rows),
  });

  it('writes to <project>/<view>/date=YYYY-MM-DD/<id>.parquet, announces checksum and stats, reads back', async () => {
    const rows = sortSegmentRows(EVERY_TYPE_SCHEMA, everyTypeRows(20));
    const event = await writeSegment(codec, {
      ...demoSegment(rows),
      rows: [rows.slice(0, 7), rows.slice(7)],
      segmentId: 'seg-1',
      now: () => 42,
    });
    assert.equal(event.path, 'demo/every_type/date=2025-01-01/seg-1.parquet');
    const bytes = readFileSync(join(root, event.path));
    assert.equal(event.bytes, bytes.length);
    assert.equal(event.checksum, createHash('sha256').update(bytes).digest('hex'));
    assert.equal(event.rowCount, 20);
    assert.equal(event.minEventTime, Math.min(...rows.map((r) => r.eventTimestamp)));
    assert.equal(event.maxEventTime, Math.max(...rows.map((r) => r.eventTimestamp)));
    assert.equal(event.writtenAt, 42);
    assert.deepEqual(await readAll(readSegment(codec, root, event)), rows);
  });

  it('never shows a partial file: while rows stream, only a hidden temporary file exists', async () => {
    const rows = sortSegmentRows(EVERY_TYPE_SCHEMA, everyTypeRows(20));
    const directory = join(root, 'demo/every_type/date=2025-01-01');
    const seen: string[][] = [];
    async function* slowly() {
      yield rows.slice(0, 10);
      seen.push(readdirSync(directory));
      yield rows.slice(10);
      seen.push(readdirSync(directory));
    }
    await writeSegment(codec, {
      ...demoSegment(rows),
      rows: slowly(),
      segmentId: 'seg-1',
      rowGroupSize: 5,
    });
    for (const listing of seen) {
      assert.equal(listing.length, 1);
      assert.match(listing[0]!, /^\.seg-1\.parquet\.[0-9a-f]+\.tmp$/);
    }
    assert.deepEqual(readdirSync(directory), ['seg-1.parquet']);
  });

  it('removes the temporary file and leaves nothing when writing fails', async () => {
    const rows = sortSegmentRows(EVERY_TYPE_SCHEMA, everyTypeRows(20));
    async function* failing() {
      yield rows.slice(0, 10);
      throw new Error('upstream consumer died');
    }
    await assert.rejects(
      writeSegment(codec, {
        ...demoSegment(rows),
        rows: failing(),
        segmentId: 'seg-1',
        rowGroupSize: 5,
      }),
      rejectsWith('SEGMENT_WRITE_FAILED', /upstream consumer died/),
    );
    assert.deepEqual(readdirSync(join(root, 'demo/every_type/date=2025-01-01')), []);
  });

  it('refuses rows out of segment order or outside the declared ranges, leaving nothing', async () => {
    const rows = sortSegmentRows(EVERY_TYPE_SCHEMA, everyTypeRows(6));
    const base = { root, project: 'demo', schema: EVERY_TYPE_SCHEMA, date: '2025-01-01', segmentId: 'seg-1' };
    await assert.rejects(
      writeSegment(codec, { ...base, ranges: rangesOf(rows), rows: [[...rows].reverse()] }),
      rejectsWith('SEGMENT_ROWS_UNSORTED'),
    );
    await assert.rejects(
      writeSegment(codec, { ...base, ranges: [{ partition: 0, fromOffset: 0, untilOffset: 10 }], rows: [rows] }),
      rejectsWith('SEGMENT_ROW_OUTSIDE_RANGES', /outside its ranges p0\[0,10\)/),
    );
    await assert.rejects(
      writeSegment(codec, { ...base, ranges: [{ partition: 0, fromOffset: 5, untilOffset: 5 }], rows: [] }),
      rejectsWith('SEGMENT_RANGES_INVALID'),
    );
    assert.equal(existsSync(join(root, 'demo/every_type/date=2025-01-01/seg-1.parquet')), false);
  });

  it('detects a flipped byte (SEGMENT_CORRUPT) and a missing file (SEGMENT_MISSING), naming the path', async () => {
    const rows = sortSegmentRows(EVERY_TYPE_SCHEMA, everyTypeRows(5));
    const event = await writeSegment(codec, {
      ...demoSegment(rows),
      rows: [rows],
    });
    const file = join(root, event.path);
    await verifySegment(root, event);

    const bytes = readFileSync(file);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    writeFileSync(file, bytes);
    const named = new RegExp(`${event.path.replace(/[.]/g, '\\.')}.*checksum`);
    await assert.rejects(verifySegment(root, event), rejectsWith('SEGMENT_CORRUPT', named));
    await assert.rejects(readAll(readSegment(codec, root, event)), rejectsWith('SEGMENT_CORRUPT', named));

    unlinkSync(file);
    await assert.rejects(
      readAll(readSegment(codec, root, event)),
      rejectsWith('SEGMENT_MISSING', new RegExp(event.path)),
    );
    assert.ok(existsSync(dirname(file)));
  });

  it('derives the schema from a feature view and refuses clashing column names', () => {
    const entities: EntityDefinition[] = [{ name: 'driver', joinKeys: [{ name: 'driver_id', type: 'int64' }] }];
    const view: FeatureViewDefinition = {
      name: 'driver_stats',
      version: 2,
      entities: ['driver'],
      features: [
        { name: 'conv_rate', type: 'float64' },
        { name: 'trips', type: 'list<int64>' },
      ],
      ttlSeconds: 0,
      online: true,
      offline: true,
    };
    assert.deepEqual(segmentSchemaFor(view, entities), {
      view: 'driver_stats',
      viewVersion: 2,
      joinKeys: [{ name: 'driver_id', type: 'int64' }],
      features: [
        { name: 'conv_rate', type: 'float64' },
        { name: 'trips', type: 'list<int64>' },
      ],
      changes: true,
    });
    const clash = { ...view, features: [{ name: '__offset', type: 'int64' as const }] };
    assert.throws(() => segmentSchemaFor(clash, entities), rejectsWith('SEGMENT_SCHEMA_INVALID', /reserved/));
    const twice = { ...view, features: [{ name: 'driver_id', type: 'int64' as const }] };
    assert.throws(() => segmentSchemaFor(twice, entities), rejectsWith('SEGMENT_SCHEMA_INVALID', /both named/));
  });
});
