import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compareSegmentRows, type SegmentColumn, type SegmentRow, type SegmentSchema } from '@featurelog/offline-store';
import { sortableEntityKey } from '@featurelog/offline-store';

const KEYS: SegmentColumn[] = [
  { name: 'n', type: 'int64' },
  { name: 's', type: 'string' },
  { name: 'b', type: 'bool' },
  { name: 'x', type: 'bytes' },
];
const SCHEMA: SegmentSchema = { view: 'v', viewVersion: 1, joinKeys: KEYS, features: [] };

const NUMBERS = [0, 1, -1, 2, 9, 10, 11, 100, -100, 2 ** 53 - 1, -(2 ** 53 - 1), 2 ** 31, -(2 ** 31)];
const STRINGS = [
  '',
  'a',
  'ab',
  'a\u0000',
  'a\u0001',
  'a\u0002',
  '\u0000',
  '\u0001\u0001',
  'b',
  'B',
  'é',
  '\uffff',
  'a|b',
];
const BYTES = [[], [0], [0, 0], [1], [255], [0, 255], [16]].map((bytes) => Uint8Array.from(bytes));

function row(values: Record<string, unknown>): SegmentRow {
  return {
    joinKeys: values as SegmentRow['joinKeys'],
    eventTimestamp: 0,
    createdTimestamp: null,
    partition: 0,
    offset: 0,
    appendTime: 0,
    features: {},
  };
}

describe('sortableEntityKey', () => {
  it('orders key tuples exactly as segments are sorted (compareSegmentRows), equal tuples as equal text', () => {
    const tuples: Record<string, unknown>[] = [];
    for (const n of NUMBERS)
      for (const s of STRINGS.slice(0, 7)) tuples.push({ n, s, b: n % 2 === 0, x: BYTES[Math.abs(n) % BYTES.length] });
    for (const s of STRINGS) for (const x of BYTES) tuples.push({ n: 1, s, b: true, x }, { n: 1, s, b: false, x });
    for (const a of tuples) {
      for (const b of tuples) {
        const expected = Math.sign(compareSegmentRows(SCHEMA, row(a), row(b)));
        const ka = sortableEntityKey(KEYS, a);
        const kb = sortableEntityKey(KEYS, b);
        const actual = ka < kb ? -1 : ka > kb ? 1 : 0;
        assert.equal(actual, expected, `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
      }
    }
  });

  it('gives a missing key a text no stored row can have, first in order', () => {
    const one = [KEYS[0]!];
    assert.equal(sortableEntityKey(one, { n: null }), '');
    assert.ok(sortableEntityKey(one, {}) < sortableEntityKey(one, { n: -(2 ** 53 - 1) }));
  });

  it('refuses a value of the wrong type, naming the key', () => {
    assert.throws(() => sortableEntityKey([KEYS[0]!], { n: '12' }), /JOIN_KEY_TYPE_MISMATCH|join key "n" is int64/);
    assert.throws(() => sortableEntityKey([KEYS[0]!], { n: 1.5 }), /join key "n"/);
  });
});
