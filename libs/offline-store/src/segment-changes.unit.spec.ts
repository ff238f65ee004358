import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  foldSegmentEvents,
  HyparquetSegmentCodec,
  mergeSegments,
  planSegmentMerges,
  readSegment,
  readSegmentColumns,
  readSegmentHistory,
  readSegmentSchema,
  sortSegmentRows,
  writeSegment,
  type SegmentRow,
  type SegmentSchema,
} from '@featurelog/offline-store';

const codec = new HyparquetSegmentCodec();
/** The schema of a segment written before the change-data-capture columns (no `changes`). */
const OLD_SCHEMA: SegmentSchema = {
  view: 'customers',
  viewVersion: 1,
  joinKeys: [{ name: 'customer_id', type: 'int64' }],
  features: [{ name: 'plan', type: 'string' }],
};
const NEW_SCHEMA: SegmentSchema = { ...OLD_SCHEMA, changes: true };
const lsn = (n: number) => String(n).padStart(20, '0');

/** Changes of customers 1 and 2: upserts, a delete, an upsert without a source position (pushed directly). */
function changeRows(partition: number, from: number): SegmentRow[] {
  const row = (offset: number, customer: number, plan: string | null, extra: Partial<SegmentRow>): SegmentRow => ({
    joinKeys: { customer_id: customer },
    eventTimestamp: 1_000_000 + offset,
    createdTimestamp: null,
    partition,
    offset,
    appendTime: 2_000_000 + offset,
    features: { plan },
    ...extra,
  });
  return sortSegmentRows(NEW_SCHEMA, [
    row(from, 1, 'free', { sourcePosition: lsn(100 + from) }),
    row(from + 1, 1, null, { sourcePosition: lsn(101 + from), deleted: true }),
    row(from + 2, 2, 'pro', { sourcePosition: lsn(102 + from) }),
    row(from + 3, 2, 'team', {}),
  ]);
}

/** The same rows as a segment written before the columns reads them: no position, not deleted. */
const asOld = (rows: SegmentRow[]): SegmentRow[] =>
  rows.map(({ sourcePosition: _position, deleted: _deleted, ...rest }) => rest);

async function all<T>(batches: AsyncIterable<T[]>): Promise<T[]> {
  const out: T[] = [];
  for await (const batch of batches) out.push(...batch);
  return out;
}

describe("segments keep a change's source position and whether it is a delete (backward compatible)", () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'featurelog-changes-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const write = (segmentId: string, schema: SegmentSchema, rows: SegmentRow[]) =>
    writeSegment(codec, {
      root,
      project: 'shop',
      schema,
      date: '2025-01-01',
      ranges: [{ partition: rows[0]!.partition, fromOffset: rows[0]!.offset, untilOffset: rows.at(-1)!.offset + 1 }],
      rows: [rows],
      segmentId,
    });

  it('round-trips __source_position and __deleted; an old segment without them reads as none, not deleted', async () => {
    const rows = changeRows(0, 0);
    const current = await write('new', NEW_SCHEMA, rows);
    assert.deepEqual(await all(readSegment(codec, root, current)), rows);
    assert.equal((await readSegmentSchema(codec, root, current)).changes, true);

    const old = await write('old', OLD_SCHEMA, rows);
    assert.deepEqual(await all(readSegment(codec, root, old)), asOld(rows));
    assert.equal((await readSegmentSchema(codec, root, old)).changes, undefined);
  });

  it('hands the columns to the readers of exports and backfills; old segments give none', async () => {
    const rows = changeRows(0, 0);
    for (const [schema, changes] of [
      [NEW_SCHEMA, true],
      [OLD_SCHEMA, false],
    ] as const) {
      const segment = await write(`s-${String(changes)}`, schema, rows);
      const path = join(root, segment.path);
      const history = await all(readSegmentHistory(path, schema));
      assert.deepEqual(
        history.map((row) => [row.position.offset, row.sourcePosition ?? null, row.deleted ?? false]),
        rows.map((row) => [
          row.offset,
          changes ? (row.sourcePosition ?? null) : null,
          changes ? (row.deleted ?? false) : false,
        ]),
      );
      const chunks = await all(
        (async function* () {
          for await (const chunk of readSegmentColumns(path, schema, { features: ['plan'], keyForm: 'number' })) {
            yield [chunk];
          }
        })(),
      );
      assert.deepEqual(
        chunks.flatMap((chunk) => Array.from({ length: chunk.length }, (_, i) => chunk.sourcePositions?.[i] ?? null)),
        rows.map((row) => (changes ? (row.sourcePosition ?? null) : null)),
      );
    }
  });

  it('merges segments written before the columns with newer ones, into a segment that has them', async () => {
    const oldRows = changeRows(0, 0);
    const newRows = changeRows(0, 4);
    const segments = [await write('old', OLD_SCHEMA, oldRows), await write('new', NEW_SCHEMA, newRows)];
    const [plan] = planSegmentMerges(foldSegmentEvents(segments), 'customers');
    const merged = await mergeSegments(codec, { root, project: 'shop', plan: plan! });
    assert.equal((await readSegmentSchema(codec, root, merged.mergedInto)).changes, true);
    const back = await all(readSegment(codec, root, merged.mergedInto));
    assert.deepEqual(
      back.map((row) => [row.offset, row.sourcePosition ?? null, row.deleted ?? false]),
      sortSegmentRows(NEW_SCHEMA, [...asOld(oldRows), ...newRows]).map((row) => [
        row.offset,
        row.sourcePosition ?? null,
        row.deleted ?? false,
      ]),
    );
  });
});
