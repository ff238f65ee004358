import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareAnswers } from './feast-compare';
import { feastConnectionString, type BenchFeatureType } from './feast-peer';

const TYPES: Record<string, BenchFeatureType> = { trips: 'int64', rating: 'float32', last_trip_at: 'timestamp' };
const typeOf = (column: string) => TYPES[column.includes('__') ? column.slice(column.indexOf('__') + 2) : column];

/** An answer in Feast's shape: the join key column, then one column per feature. */
function answer(names: string[], columns: unknown[][], statuses = 'PRESENT', eventTime = '2026-12-02T06:00:00.5Z') {
  return {
    metadata: { feature_names: ['driver_id', ...names] },
    results: [
      {
        values: [7, 8],
        statuses: ['PRESENT', 'PRESENT'],
        event_timestamps: ['1970-01-01T00:00:00Z', '1970-01-01T00:00:00Z'],
      },
      ...columns.map((values) => ({
        values,
        statuses: values.map(() => statuses),
        event_timestamps: values.map(() => eventTime),
      })),
    ],
  };
}

describe('compareAnswers', () => {
  const names = ['trips', 'rating', 'last_trip_at'];
  const featurelog = answer(names, [
    [3, 4],
    [4.9, 3.1],
    ['2026-12-02T06:00:01.999999Z', null],
  ]);

  it('finds no difference where Feast holds the same values at its precision (float32 widened, whole seconds)', () => {
    const feast = answer(
      names,
      [
        [3, 4],
        [4.900000095367432, 3.0999999046325684],
        [Math.floor(Date.parse('2026-12-02T06:00:01Z') / 1000), null],
      ],
      'PRESENT',
      '2026-12-02T06:00:00Z',
    );
    assert.deepEqual(compareAnswers(featurelog, feast, ['driver_id'], typeOf), []);
  });

  it('names each value, status, event timestamp and column that differs', () => {
    const feast = answer(
      ['trips', 'rating', 'other'],
      [
        [3, 5],
        [4.91, 3.1],
        [0, 0],
      ],
      'OUTSIDE_MAX_AGE',
      '2026-12-02T06:00:02Z',
    );
    const differences = compareAnswers(featurelog, feast, ['driver_id'], typeOf);
    assert.ok(differences.includes('columns only Feast answered: other'), differences.join('\n'));
    assert.ok(differences.includes('column last_trip_at: Feast did not answer it'));
    assert.ok(differences.includes('column trips row 1: featurelog 4, Feast 5'));
    assert.ok(differences.includes('column rating row 0: featurelog 4.9, Feast 4.91'));
    assert.ok(differences.includes('column trips row 0: status PRESENT from featurelog, OUTSIDE_MAX_AGE from Feast'));
    assert.ok(differences.some((d) => d.startsWith('column trips row 0: event timestamp')));
  });

  it('tells a timestamp a second off, and a null against a value', () => {
    const feast = answer(names, [
      [3, 4],
      [4.9, 3.1],
      [Math.floor(Date.parse('2026-12-02T06:00:01Z') / 1000) + 1, 0],
    ]);
    assert.deepEqual(compareAnswers(featurelog, feast, ['driver_id'], typeOf), [
      `column last_trip_at row 0: featurelog "2026-12-02T06:00:01.999999Z", Feast ${Date.parse('2026-12-02T06:00:02Z') / 1000}`,
      'column last_trip_at row 1: featurelog null, Feast 0',
    ]);
  });

  it('refuses an answer that is not in the shape of one', () => {
    assert.throws(
      () => compareAnswers({ detail: 'nope' }, featurelog, ['driver_id'], typeOf),
      /featurelog answered no/,
    );
  });
});

describe('feastConnectionString', () => {
  it('carries host, port, database, user, password and TLS of the Redis URL', () => {
    assert.equal(feastConnectionString('redis://127.0.0.1:6379'), '127.0.0.1:6379');
    assert.equal(
      feastConnectionString('rediss://bench:s%40cret@localhost:6380/2'),
      'localhost:6380,db=2,username=bench,password="s@cret",ssl=true',
    );
  });

  it('refuses what Feast cannot take', () => {
    assert.throws(() => feastConnectionString('redis://u:a%2Cb@h:1'), /comma/);
    assert.throws(() => feastConnectionString('http://h:1'), /not redis/);
  });
});
