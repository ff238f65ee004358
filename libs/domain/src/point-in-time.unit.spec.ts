import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pointInTimeJoinReference, pointInTimeLookup, type PitCandidate } from '@featurelog/domain';

const S = 1_000_000;
function row(
  entityKey: string,
  eventTimestamp: number,
  offset: number,
  extra: Partial<PitCandidate<string>> = {},
): PitCandidate<string> {
  return {
    entityKey,
    eventTimestamp,
    createdTimestamp: null,
    position: { partition: 0, offset },
    values: `${entityKey}@${offset}`,
    ...extra,
  };
}

describe('pointInTimeLookup', () => {
  const rows = [row('k=1', 100 * S, 0), row('k=1', 200 * S, 1), row('k=2', 150 * S, 2), row('k=1', 300 * S, 3)];

  it('takes the latest row at or before t for the same key', () => {
    assert.equal(pointInTimeLookup(rows, { entityKey: 'k=1', timestamp: 250 * S }, { ttlSeconds: 0 })?.values, 'k=1@1');
    assert.equal(pointInTimeLookup(rows, { entityKey: 'k=1', timestamp: 200 * S }, { ttlSeconds: 0 })?.values, 'k=1@1');
    assert.equal(pointInTimeLookup(rows, { entityKey: 'k=1', timestamp: 99 * S }, { ttlSeconds: 0 }), null);
    assert.equal(pointInTimeLookup(rows, { entityKey: 'k=3', timestamp: 999 * S }, { ttlSeconds: 0 }), null);
  });

  it('applies the TTL window with an inclusive lower bound', () => {
    assert.equal(
      pointInTimeLookup(rows, { entityKey: 'k=1', timestamp: 250 * S }, { ttlSeconds: 50 })?.values,
      'k=1@1',
    );
    assert.equal(pointInTimeLookup(rows, { entityKey: 'k=1', timestamp: 250 * S + 1 }, { ttlSeconds: 50 }), null);
  });

  it('breaks timestamp ties by created timestamp (absent lowest), then log position', () => {
    const tied = [
      row('k', 10 * S, 5, { createdTimestamp: 20 * S }),
      row('k', 10 * S, 9),
      row('k', 10 * S, 7, { createdTimestamp: 20 * S }),
      row('k', 10 * S, 6, { createdTimestamp: 15 * S }),
    ];
    assert.equal(pointInTimeLookup(tied, { entityKey: 'k', timestamp: 10 * S }, { ttlSeconds: 0 })?.values, 'k@7');
  });

  it('as served, ignores rows appended or created after t', () => {
    const late = [
      row('k', 10 * S, 0, { appendTime: 11 * S }),
      row('k', 12 * S, 1, { appendTime: 19 * S, createdTimestamp: 21 * S }),
      row('k', 13 * S, 2, { appendTime: 25 * S }),
    ];
    const at = (t: number, asServed: boolean) =>
      pointInTimeLookup(late, { entityKey: 'k', timestamp: t }, { ttlSeconds: 0, asServed })?.values;
    assert.equal(at(20 * S, false), 'k@2');
    assert.equal(at(20 * S, true), 'k@0');
    assert.equal(at(10 * S, true), undefined);
    assert.equal(at(21 * S, true), 'k@1');
    assert.throws(
      () => pointInTimeLookup([row('k', 1, 0)], { entityKey: 'k', timestamp: 5 }, { ttlSeconds: 0, asServed: true }),
      {
        code: 'APPEND_TIME_MISSING',
      },
    );
  });

  it('lets a delete win like any row, and an upsert after it win again', () => {
    const history: PitCandidate<string | null>[] = [row('k', 1 * S, 0), { ...row('k', 2 * S, 1), values: null }];
    history.push(row('k', 3 * S, 2));
    const at = (t: number) => pointInTimeLookup(history, { entityKey: 'k', timestamp: t }, { ttlSeconds: 0 });
    assert.equal(at(1 * S)?.values, 'k@0');
    assert.equal(at(2 * S)?.values, null, 'the delete is the winner');
    assert.equal(at(3 * S)?.values, 'k@2');
  });

  it('keeps every entity row, duplicates included, in order', () => {
    const result = pointInTimeJoinReference(
      rows,
      [
        { entityKey: 'k=1', timestamp: 150 * S },
        { entityKey: 'k=9', timestamp: 150 * S },
        { entityKey: 'k=1', timestamp: 150 * S },
      ],
      { ttlSeconds: 0 },
    );
    assert.deepEqual(
      result.map((r) => r?.values ?? null),
      ['k=1@0', null, 'k=1@0'],
    );
  });
});
