import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mergeSorted, pointInTimeLookup, type FeatureValue, type PitCandidate } from '@featurelog/domain';
import { pointInTimeJoinInMemory, streamBatches, type KeyedPitView } from './in-memory-join';
import { compareHistoryRows, type EntityRow, type HistoryRow } from './pit-rows';
import { pointInTimeJoin } from './point-in-time-join';
import { seededRandom } from '@featurelog/testing';

const SECOND = 1_000_000;

interface ViewSpec {
  name: string;
  keyName: string;
  ttlSeconds: number;
  features: string[];
  rows: HistoryRow[];
}

/**
 * What the join must emit, by the domain's brute-force rule pointInTimeLookup (the oracle): for every
 * entity row and view, the winner among all of the view's rows, its requested features or nulls.
 */
function expectedJoin(entityRows: readonly EntityRow[], views: readonly ViewSpec[], asServed: boolean): EntityRow[] {
  if (views.length === 0) return [...entityRows];
  const candidates = views.map((view) =>
    view.rows.map((row): PitCandidate<HistoryRow> => ({ ...row, appendTime: row.appendedAt, values: row })),
  );
  return entityRows.map((row) => {
    const features: Record<string, Record<string, FeatureValue>> = {};
    views.forEach((view, v) => {
      const winner = pointInTimeLookup(
        candidates[v]!,
        { entityKey: row.entityKeys[view.keyName]!, timestamp: row.timestamp },
        { ttlSeconds: view.ttlSeconds, asServed },
      );
      features[view.name] = Object.fromEntries(
        view.features.map((f) => [f, winner === null ? null : (winner.values.features[f] ?? null)]),
      );
    });
    return { ...row, features };
  });
}

/** A view's history as the exporter sees it: a few sorted segments plus a sorted log tail, merged. */
function historyStream(rows: readonly HistoryRow[], random: () => number): AsyncIterable<HistoryRow[]> {
  const parts: HistoryRow[][] = [[], [], [], []];
  for (const row of rows) parts[Math.floor(random() * parts.length)]!.push(row);
  const batch = () => 1 + Math.floor(random() * 6);
  return mergeSorted(
    parts.map((part) => streamBatches(part.sort(compareHistoryRows), batch())),
    compareHistoryRows,
    { batchSize: batch() },
  );
}

interface Scenario {
  entityRows: EntityRow[];
  views: ViewSpec[];
}

/**
 * Small grids of keys and half-second timestamps, so that ties on event and created timestamps,
 * rows exactly at t and exactly at t - TTL, duplicates and empty keys all happen often.
 */
function randomScenario(random: () => number): Scenario {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const int = (n: number) => Math.floor(random() * n);
  const time = () => int(24) * (SECOND / 2);
  const keysOf = { driver: ['d1', 'd2', 'd3', 'd10'], customer: ['c1', 'c2'] };

  const entityRows: EntityRow[] = [];
  const rowCount = int(4) === 0 ? 0 : int(30);
  for (let i = 0; i < rowCount; i++) {
    const previous = entityRows[entityRows.length - 1];
    const duplicate = previous !== undefined && int(5) === 0;
    entityRows.push({
      rowIndex: i,
      timestamp: duplicate ? previous.timestamp : time(),
      entityKeys: duplicate ? previous.entityKeys : { driver: pick(keysOf.driver), customer: pick(keysOf.customer) },
      columns: { label: int(2), note: duplicate ? previous.columns.note : `row-${i}` },
    });
  }

  const offsets = [0, 0, 0];
  const viewShapes: [string, 'driver' | 'customer', string[]][] = [
    ['driver_stats', 'driver', ['trips', 'rating']],
    ['driver_flags', 'driver', ['active']],
    ['customer_stats', 'customer', ['spend', 'rating']],
  ];
  const views = viewShapes
    .filter(() => int(5) !== 0)
    .map(([name, keyName, features]): ViewSpec => {
      const rows: HistoryRow[] = [];
      const count = int(4) === 0 ? 0 : int(40);
      for (let i = 0; i < count; i++) {
        const partition = int(3);
        const eventTimestamp = time();
        const createdRoll = int(3);
        rows.push({
          entityKey: pick([...keysOf[keyName], 'x-unknown']),
          eventTimestamp,
          createdTimestamp: createdRoll === 0 ? null : createdRoll === 1 ? eventTimestamp : time(),
          position: { partition, offset: offsets[partition]!++ },
          appendedAt: eventTimestamp + (int(3) - 1) * int(8) * (SECOND / 2),
          features: Object.fromEntries(
            features.filter(() => int(6) !== 0).map((f) => [f, int(4) === 0 ? null : int(100)]),
          ),
        });
      }
      return { name, keyName, ttlSeconds: pick([0, 0, 1, 2, 3.5, 5]), features, rows };
    });
  return { entityRows, views };
}

async function runJoin(scenario: Scenario, asServed: boolean, random: () => number): Promise<EntityRow[]> {
  const shuffled = [...scenario.entityRows].sort(() => random() - 0.5);
  const views: KeyedPitView[] = scenario.views.map((view) => ({
    name: view.name,
    keyName: view.keyName,
    ttlSeconds: view.ttlSeconds,
    features: view.features,
    history: historyStream(view.rows, random),
  }));
  return pointInTimeJoinInMemory(shuffled, views, { asServed, batchSize: 1 + Math.floor(random() * 8) });
}

function row(rowIndex: number, t: number, driver = 'd1'): EntityRow {
  return { rowIndex, timestamp: t, entityKeys: { driver }, columns: {} };
}

function history(
  eventTimestamp: number,
  value: FeatureValue,
  extra: Partial<Pick<HistoryRow, 'createdTimestamp' | 'appendedAt' | 'entityKey'>> & { offset?: number } = {},
): HistoryRow {
  return {
    entityKey: extra.entityKey ?? 'd1',
    eventTimestamp,
    createdTimestamp: extra.createdTimestamp ?? null,
    position: { partition: 0, offset: extra.offset ?? 0 },
    appendedAt: extra.appendedAt ?? eventTimestamp,
    features: { v: value },
  };
}

async function joinOne(
  entityRows: EntityRow[],
  rows: HistoryRow[],
  { ttlSeconds = 0, asServed = false } = {},
): Promise<FeatureValue[]> {
  const joined = await pointInTimeJoinInMemory(
    entityRows,
    [
      {
        name: 'view',
        keyName: 'driver',
        ttlSeconds,
        features: ['v'],
        history: streamBatches([...rows].sort(compareHistoryRows)),
      },
    ],
    { asServed },
  );
  return joined.map((r) => r.features?.view?.v ?? null);
}

describe('pointInTimeJoin against a brute-force oracle', () => {
  for (const asServed of [false, true]) {
    it(`agrees on 600 random scenarios (asServed=${asServed})`, async () => {
      for (let seed = 1; seed <= 600; seed++) {
        const random = seededRandom(seed * 2 + (asServed ? 1 : 0));
        const scenario = randomScenario(random);
        const actual = await runJoin(scenario, asServed, random);
        const expected = expectedJoin(scenario.entityRows, scenario.views, asServed);
        assert.deepEqual(actual, expected, `seed ${seed}, asServed=${asServed}: output differs from the oracle`);
      }
    });
  }
});

describe('pointInTimeJoin boundaries', () => {
  it('includes a row exactly at t and one exactly at t - TTL, excludes one just outside', async () => {
    const t = 10 * SECOND;
    assert.deepEqual(await joinOne([row(0, t)], [history(t, 'at-t')], { ttlSeconds: 5 }), ['at-t']);
    assert.deepEqual(await joinOne([row(0, t)], [history(t - 5 * SECOND, 'at-lower')], { ttlSeconds: 5 }), [
      'at-lower',
    ]);
    assert.deepEqual(await joinOne([row(0, t)], [history(t - 5 * SECOND - 1, 'too-old')], { ttlSeconds: 5 }), [null]);
    assert.deepEqual(await joinOne([row(0, t)], [history(t + 1, 'future')]), [null]);
  });

  it('treats TTL 0 as no lower bound', async () => {
    assert.deepEqual(await joinOne([row(0, 1e12)], [history(1, 'ancient')]), ['ancient']);
  });

  it('breaks event-time ties by created timestamp (null lowest), then by log position', async () => {
    const rows = [
      history(5, 'created-7', { createdTimestamp: 7, offset: 1 }),
      history(5, 'null-created-late-offset', { offset: 9 }),
      history(5, 'created-3', { createdTimestamp: 3, offset: 8 }),
    ];
    assert.deepEqual(await joinOne([row(0, 5)], rows), ['created-7']);
    const noCreated = [history(5, 'offset-2', { offset: 2 }), history(5, 'offset-4', { offset: 4 })];
    assert.deepEqual(await joinOne([row(0, 5)], noCreated), ['offset-4']);
  });

  it('keeps duplicate entity rows and rows whose key has no history, with nulls', async () => {
    const entityRows = [row(0, 5), row(1, 5), row(2, 5, 'd9')];
    assert.deepEqual(await joinOne(entityRows, [history(1, 'a')]), ['a', 'a', null]);
  });

  it('as served: a later row not yet known at t is skipped, then wins once known', async () => {
    const rows = [
      history(1, 'early'),
      history(2, 'late-known', { appendedAt: 8 }),
      history(3, 'created-later', {
        createdTimestamp: 6,
      }),
    ];
    const entityRows = [row(0, 4), row(1, 6), row(2, 7), row(3, 8)];
    assert.deepEqual(await joinOne(entityRows, rows, { asServed: true }), [
      'early',
      'created-later',
      'created-later',
      'created-later',
    ]);
    assert.deepEqual(await joinOne(entityRows, rows), [
      'created-later',
      'created-later',
      'created-later',
      'created-later',
    ]);
    const onlyLate = [history(1, 'early'), history(2, 'late-known', { appendedAt: 8 })];
    assert.deepEqual(await joinOne(entityRows, onlyLate, { asServed: true }), [
      'early',
      'early',
      'early',
      'late-known',
    ]);
  });

  it('handles empty entity rows and empty history', async () => {
    assert.deepEqual(await joinOne([], [history(1, 'a')]), []);
    assert.deepEqual(await joinOne([row(0, 5)], []), [null]);
    assert.deepEqual(await pointInTimeJoinInMemory([row(0, 5)], []), [row(0, 5)]);
  });

  it('carries extra columns and earlier passes through untouched, in the original order', async () => {
    const entityRows: EntityRow[] = [
      { rowIndex: 0, timestamp: 9, entityKeys: { driver: 'd2', customer: 'c1' }, columns: { label: 1 } },
      { rowIndex: 1, timestamp: 3, entityKeys: { driver: 'd1', customer: 'c2' }, columns: { label: 0 } },
    ];
    const joined = await pointInTimeJoinInMemory(entityRows, [
      {
        name: 'by_driver',
        keyName: 'driver',
        ttlSeconds: 0,
        features: ['v'],
        history: streamBatches([history(1, 'd1-v'), history(2, 'd2-v', { entityKey: 'd2' })]),
      },
      {
        name: 'by_customer',
        keyName: 'customer',
        ttlSeconds: 0,
        features: ['v'],
        history: streamBatches([history(1, 'c1-v', { entityKey: 'c1' })]),
      },
    ]);
    assert.deepEqual(joined, [
      { ...entityRows[0], features: { by_driver: { v: 'd2-v' }, by_customer: { v: 'c1-v' } } },
      { ...entityRows[1], features: { by_driver: { v: 'd1-v' }, by_customer: { v: null } } },
    ]);
  });
});

describe('pointInTimeJoin input checks', () => {
  const view = (rows: HistoryRow[]) => ({ name: 'view', ttlSeconds: 0, features: ['v'], history: streamBatches(rows) });
  const drain = async (entityRows: EntityRow[], rows: HistoryRow[]) => {
    for await (const _ of pointInTimeJoin(streamBatches(entityRows), { keyName: 'driver', views: [view(rows)] })) {
      // drained for its errors
    }
  };

  it('refuses entity rows out of (key, t, rowIndex) order', async () => {
    await assert.rejects(drain([row(0, 5), row(1, 4)], []), { code: 'PIT_ENTITY_ROWS_UNSORTED' });
    await assert.rejects(drain([row(0, 5, 'd2'), row(1, 6, 'd1')], []), { code: 'PIT_ENTITY_ROWS_UNSORTED' });
  });

  it('refuses history out of (key, event timestamp) order', async () => {
    await assert.rejects(drain([row(0, 9)], [history(5, 'a'), history(4, 'b')]), { code: 'PIT_HISTORY_UNSORTED' });
  });

  it('refuses an entity row without the pass key, a duplicate view and a negative TTL', async () => {
    const keyless: EntityRow = { rowIndex: 0, timestamp: 1, entityKeys: {}, columns: {} };
    await assert.rejects(drain([keyless], []), { code: 'PIT_ENTITY_KEY_MISSING' });
    const twice = pointInTimeJoin(streamBatches([row(0, 1)]), { keyName: 'driver', views: [view([]), view([])] });
    await assert.rejects(twice.next(), { code: 'PIT_DUPLICATE_VIEW' });
    const negative = pointInTimeJoin(streamBatches([row(0, 1)]), {
      keyName: 'driver',
      views: [{ ...view([]), ttlSeconds: -1 }],
    });
    await assert.rejects(negative.next(), { code: 'PIT_INVALID_TTL' });
  });
});
