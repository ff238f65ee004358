import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pointInTimeLookup, type FeatureValue, type PitCandidate } from '@featurelog/domain';
import { joinHistorySource, sortEntities, ViewWinners, type ColumnKey, type HistoryColumns } from './columnar-join';
import { seededRandom } from '@featurelog/testing';

const SECOND = 1_000_000;

interface Row {
  key: ColumnKey;
  event: number;
  created: number | null;
  partition: number;
  offset: number;
  /** Fixed-width digits, or null for none. */
  source: string | null;
  appended: number;
  value: FeatureValue;
  label: FeatureValue;
}

/** The rows as candidates of the domain's brute-force point-in-time rule, pointInTimeLookup (the oracle). */
function candidatesOf(rows: readonly Row[]): PitCandidate<Row>[] {
  return rows.map((row) => ({
    entityKey: String(row.key),
    eventTimestamp: row.event,
    createdTimestamp: row.created,
    position: { partition: row.partition, offset: row.offset },
    ...(row.source === null ? {} : { sourcePosition: row.source }),
    appendTime: row.appended,
    values: row,
  }));
}

/** Segment order: key, event, created (null lowest), partition, offset. */
function segmentOrder(a: Row, b: Row): number {
  if (a.key !== b.key) return a.key < b.key ? -1 : 1;
  if (a.event !== b.event) return a.event - b.event;
  const ac = a.created ?? -Infinity;
  const bc = b.created ?? -Infinity;
  if (ac !== bc) return ac < bc ? -1 : 1;
  if (a.partition !== b.partition) return a.partition - b.partition;
  return a.offset - b.offset;
}

/** One source as chunks of random sizes, features as a float (typed) and a string. */
function chunksOf(rows: Row[], random: () => number): HistoryColumns[] {
  const chunks: HistoryColumns[] = [];
  for (let start = 0; start < rows.length;) {
    const end = Math.min(rows.length, start + 1 + Math.floor(random() * 9));
    const part = rows.slice(start, end);
    chunks.push({
      length: part.length,
      keys: part.map((row) => row.key),
      eventTimestamps: Float64Array.from(part, (row) => row.event),
      createdTimestamps: Float64Array.from(part, (row) => row.created ?? -Infinity),
      partitions: Float64Array.from(part, (row) => row.partition),
      offsets: Float64Array.from(part, (row) => row.offset),
      appendedAt: Float64Array.from(part, (row) => row.appended),
      sourcePositions: part.some((row) => row.source !== null) ? part.map((row) => row.source) : null,
      features: [part.map((row) => row.value), part.map((row) => row.label)],
      featureValue: null,
    });
    start = end;
  }
  return chunks;
}

function scenario(seed: number, numeric: boolean) {
  const random = seededRandom(seed);
  const keyOf = (n: number): ColumnKey => (numeric ? n - 3 : ['a', 'b', 'ab', 'B', 'zz', 'a\u0000'][n % 6]!);
  const keys = numeric ? 9 : 6;
  const time = () => Math.floor(random() * 40) * 60 * SECOND;
  const rows: Row[] = [];
  for (let i = 0; i < 300; i++) {
    const event = time();
    rows.push({
      key: keyOf(Math.floor(random() * keys)),
      event,
      created: random() < 0.3 ? null : event + Math.floor(random() * 3) * 60 * SECOND,
      // A log position is unique; equal offsets on two partitions exercise the last tie-break.
      partition: i % 2,
      offset: Math.floor(i / 2),
      // Few distinct positions, so that they tie too and the log position decides.
      source: random() < 0.3 ? null : String(Math.floor(random() * 4)).padStart(20, '0'),
      appended: event + Math.floor(random() * 5) * 60 * SECOND,
      value: random() < 0.1 ? null : Math.round(random() * 1000) / 10,
      label: random() < 0.1 ? null : `r${i}`,
    });
  }
  // One key with many entity rows: the numeric sort's large-group path.
  const entities = Array.from({ length: 260 }, () => ({
    key: random() < 0.05 ? null : random() < 0.4 ? keyOf(1) : keyOf(Math.floor(random() * (keys + 2))),
    t: time(),
  }));
  return { random, rows, entities };
}

describe('columnar point-in-time join (per sorted source, merged winners) against a brute-force oracle', () => {
  for (const numeric of [true, false]) {
    for (const asServed of [false, true]) {
      for (const ttlSeconds of [0, 600]) {
        it(`matches the oracle (${numeric ? 'integer' : 'string'} keys, TTL ${ttlSeconds}${asServed ? ', as served' : ''})`, async () => {
          for (let seed = 1; seed <= 12; seed++) {
            const { random, rows, entities } = scenario(seed * 7919 + (numeric ? 1 : 0), numeric);
            const order = sortEntities(
              entities.map((entity) => entity.key),
              Float64Array.from(entities, (entity) => entity.t),
            );
            // Sources: random parts, each in segment order; half joined "elsewhere" and merged in.
            const parts: Row[][] = [[], [], [], []];
            for (const row of rows) parts[Math.floor(random() * parts.length)]!.push(row);
            const here = new ViewWinners(order.keys.length, ['value', 'label'], ttlSeconds, [true, false]);
            const there = new ViewWinners(order.keys.length, ['value', 'label'], ttlSeconds, [true, false]);
            for (const [p, part] of parts.entries()) {
              await joinHistorySource(order, chunksOf(part.sort(segmentOrder), random), p % 2 === 0 ? here : there, {
                source: `part ${p}`,
                asServed,
              });
            }
            here.merge(there.data);
            const times = Float64Array.from(entities, (entity) => entity.t);
            const value = here.gatherColumn(0, order.positions, times, 0, entities.length);
            const label = here.gatherColumn(1, order.positions, times, 0, entities.length);
            const [wholeValue, wholeLabel] = here.columnsInRowOrder(order, entities.length);
            assert.deepEqual(wholeValue, value, `seed ${seed}: numeric column in row order`);
            assert.deepEqual(wholeLabel, label, `seed ${seed}: value column in row order`);
            const candidates = candidatesOf(rows);
            entities.forEach((entity, i) => {
              const want =
                entity.key === null
                  ? undefined
                  : pointInTimeLookup(
                      candidates,
                      { entityKey: String(entity.key), timestamp: entity.t },
                      { ttlSeconds, asServed },
                    )?.values;
              const got = {
                value: 'numbers' in value ? (value.present[i] === 1 ? value.numbers[i] : null) : null,
                label: 'values' in label ? label.values[i] : undefined,
              };
              assert.deepEqual(
                got,
                { value: want?.value ?? null, label: want?.label ?? null },
                `seed ${seed}, row ${i}: key ${String(entity.key)} at ${entity.t}`,
              );
            });
          }
        });
      }
    }
  }

  // Dense keys rank as key - min; sparse ones (ids far apart) through a sort of the distinct values.
  for (const [shape, keyOf] of [
    ['dense', (random: () => number) => Math.floor(random() * 7) - 3],
    ['sparse', (random: () => number) => (Math.floor(random() * 9) - 4) * 2 ** 40],
  ] as const) {
    it(`orders entity rows by (key, time, row) and leaves rows without a key out (${shape} integer keys)`, () => {
      const random = seededRandom(42);
      const keys = Array.from({ length: 2000 }, () => (random() < 0.02 ? null : keyOf(random)));
      keys[5] = Number.NaN;
      const times = Float64Array.from(keys, () => Math.floor(random() * 50));
      const order = sortEntities(keys, times, { shared: true });
      const want = keys
        .map((key, row) => ({ key, t: times[row]!, row }))
        .filter(({ key }) => key !== null && !Number.isNaN(key))
        .sort((a, b) => a.key! - b.key! || a.t - b.t || a.row - b.row)
        .map(({ row }) => row);
      assert.deepEqual([...order.rows], want);
      assert.ok(order.rows.buffer instanceof SharedArrayBuffer);
      assert.equal(order.positions[5], -1);
      want.forEach((row, p) => assert.equal(order.positions[row], p));
    });
  }

  it('orders a frame without any key (empty, or every row lacking it): no position, no error', () => {
    for (const keys of [[], [null], [null, Number.NaN], [null, null, null]] as (number | null)[][]) {
      const order = sortEntities(keys, new Float64Array(keys.length));
      assert.deepEqual([...order.rows], []);
      assert.deepEqual(
        [...order.positions],
        keys.map(() => -1),
      );
    }
  });

  it('refuses a source that is not sorted, naming it', async () => {
    const order = sortEntities([1, 2], Float64Array.from([10, 10]));
    const rows = [
      { key: 2, event: 1 },
      { key: 1, event: 1 },
    ];
    const chunk: HistoryColumns = {
      length: 2,
      keys: rows.map((row) => row.key),
      eventTimestamps: Float64Array.from(rows, (row) => row.event),
      createdTimestamps: new Float64Array(2),
      partitions: new Float64Array(2),
      offsets: Float64Array.from([0, 1]),
      appendedAt: null,
      features: [],
      featureValue: null,
    };
    await assert.rejects(
      joinHistorySource(order, [chunk], new ViewWinners(2, [], 0), { source: 'segment x.parquet' }),
      (error: Error & { code?: string }) =>
        error.code === 'PIT_HISTORY_UNSORTED' && error.message.includes('segment x.parquet'),
    );
  });
});

/** A history row of key `d1` (unless said) with the one feature `v`. */
function history(
  event: number,
  value: FeatureValue,
  extra: Partial<Pick<Row, 'created' | 'appended' | 'key' | 'offset' | 'partition' | 'source'>> = {},
): Row {
  return {
    key: extra.key ?? 'd1',
    event,
    created: extra.created ?? null,
    partition: extra.partition ?? 0,
    offset: extra.offset ?? 0,
    source: extra.source ?? null,
    appended: extra.appended ?? event,
    value,
    label: null,
  };
}

/** The feature `v` for each entity row (key `d1` unless said, at time t), joined from one sorted source. */
async function joinOne(
  entities: { t: number; key?: ColumnKey }[],
  rows: Row[],
  { ttlSeconds = 0, asServed = false } = {},
): Promise<FeatureValue[]> {
  const order = sortEntities(
    entities.map((entity) => entity.key ?? 'd1'),
    Float64Array.from(entities, (entity) => entity.t),
  );
  const winners = new ViewWinners(order.keys.length, ['v'], ttlSeconds);
  const source = chunksOf([...rows].sort(segmentOrder), seededRandom(rows.length));
  await joinHistorySource(order, source, winners, { source: 'one source', asServed });
  const [column] = winners.columnsInRowOrder(order, entities.length);
  return 'values' in column! ? column.values : [];
}

describe('columnar point-in-time join boundaries', () => {
  it('includes a row exactly at t and one exactly at t - TTL, excludes one just outside', async () => {
    const t = 10 * SECOND;
    assert.deepEqual(await joinOne([{ t }], [history(t, 'at-t')], { ttlSeconds: 5 }), ['at-t']);
    assert.deepEqual(await joinOne([{ t }], [history(t - 5 * SECOND, 'at-lower')], { ttlSeconds: 5 }), ['at-lower']);
    assert.deepEqual(await joinOne([{ t }], [history(t - 5 * SECOND - 1, 'too-old')], { ttlSeconds: 5 }), [null]);
    assert.deepEqual(await joinOne([{ t }], [history(t + 1, 'future')]), [null]);
  });

  it('treats TTL 0 as no lower bound', async () => {
    assert.deepEqual(await joinOne([{ t: 1e12 }], [history(1, 'ancient')]), ['ancient']);
  });

  it('breaks event-time ties by created timestamp (null lowest), then by log position', async () => {
    const rows = [
      history(5, 'created-7', { created: 7, offset: 1 }),
      history(5, 'null-created-late-offset', { offset: 9 }),
      history(5, 'created-3', { created: 3, offset: 8 }),
    ];
    assert.deepEqual(await joinOne([{ t: 5 }], rows), ['created-7']);
    const noCreated = [history(5, 'offset-2', { offset: 2 }), history(5, 'offset-4', { offset: 4 })];
    assert.deepEqual(await joinOne([{ t: 5 }], noCreated), ['offset-4']);
  });

  it('breaks a tie of both timestamps by source position (none lowest) before the log position, as the oracle does', async () => {
    const lsn = (n: number) => String(n).padStart(20, '0');
    // Two changes of one PostgreSQL row committed in the same millisecond, which reached two partitions:
    // the later change (greater LSN) has the smaller offset.
    const rows = [
      history(5, 'lsn-200', { created: 5, partition: 1, offset: 3, source: lsn(200) }),
      history(5, 'lsn-100', { created: 5, partition: 0, offset: 9, source: lsn(100) }),
      history(5, 'no-position', { created: 5, partition: 0, offset: 12 }),
    ];
    assert.deepEqual(await joinOne([{ t: 5 }, { t: 4 }], rows), ['lsn-200', null]);
    assert.equal(
      pointInTimeLookup(candidatesOf(rows), { entityKey: 'd1', timestamp: 5 }, { ttlSeconds: 0 })?.values.value,
      'lsn-200',
    );
    // Each in a source of its own, joined into two winners and merged: the same winner whatever the order.
    for (const sources of [rows, [...rows].reverse()]) {
      const order = sortEntities(['d1'], Float64Array.from([5]));
      const here = new ViewWinners(1, ['v'], 0);
      const there = new ViewWinners(1, ['v'], 0);
      for (const [i, row] of sources.entries()) {
        await joinHistorySource(order, chunksOf([row], seededRandom(i)), i === 1 ? there : here, { source: `s${i}` });
      }
      here.merge(there.data);
      assert.deepEqual(here.columnsInRowOrder(order, 1)[0], { values: ['lsn-200'] });
    }
    // A later created timestamp still beats any source position.
    const created = [...rows, history(5, 'created-6', { created: 6, offset: 1 })];
    assert.deepEqual(await joinOne([{ t: 5 }], created), ['created-6']);
  });

  it('keeps duplicate entity rows and rows whose key has no history, with nulls', async () => {
    const entities = [{ t: 5 }, { t: 5 }, { t: 5, key: 'd9' }];
    assert.deepEqual(await joinOne(entities, [history(1, 'a')]), ['a', 'a', null]);
  });

  it('as served: a later row not yet known at t is skipped, then wins once known', async () => {
    const rows = [
      history(1, 'early'),
      history(2, 'late-known', { appended: 8 }),
      history(3, 'created-later', { created: 6 }),
    ];
    const entities = [{ t: 4 }, { t: 6 }, { t: 7 }, { t: 8 }];
    assert.deepEqual(await joinOne(entities, rows, { asServed: true }), [
      'early',
      'created-later',
      'created-later',
      'created-later',
    ]);
    assert.deepEqual(await joinOne(entities, rows), [
      'created-later',
      'created-later',
      'created-later',
      'created-later',
    ]);
    const onlyLate = [history(1, 'early'), history(2, 'late-known', { appended: 8 })];
    assert.deepEqual(await joinOne(entities, onlyLate, { asServed: true }), ['early', 'early', 'early', 'late-known']);
  });

  it('handles empty entity rows and empty history', async () => {
    assert.deepEqual(await joinOne([], [history(1, 'a')]), []);
    assert.deepEqual(await joinOne([{ t: 5 }], []), [null]);
  });

  it('refuses history out of (key, event timestamp) order', async () => {
    const order = sortEntities(['d1'], Float64Array.from([9]));
    const source = chunksOf([history(5, 'a'), history(4, 'b')], seededRandom(1));
    await assert.rejects(joinHistorySource(order, source, new ViewWinners(1, ['v'], 0), { source: 'segment y' }), {
      code: 'PIT_HISTORY_UNSORTED',
    });
  });
});
