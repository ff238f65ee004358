import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareRowVersions, type RowVersion } from '@featurelog/domain';
import { decodeVersionField, encodeVersionField, VERSION_DIGITS } from './redis-version-field';

const MAX = Number.MAX_SAFE_INTEGER;
const timestamps = [-MAX, -(2 ** 52) - 1, -1_000_001, -1, 0, 1, 9, 10, 1_700_000_000_000_000, MAX - 1, MAX];
const naturals = [0, 1, 9, 10, 2_147_483_647, 2 ** 50, MAX];

function randomVersion(random: () => number): RowVersion {
  const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)]!;
  return {
    eventTimestamp: pick(timestamps),
    createdTimestamp: random() < 0.3 ? null : pick(timestamps),
    position: { partition: pick(naturals), offset: pick(naturals) },
  };
}

/** A small deterministic generator, so a failure can be replayed. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1_664_525 + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

describe('redis version field', () => {
  it('orders versions as compareRowVersions does, by plain string comparison of the digits', () => {
    const random = seeded(4);
    for (let i = 0; i < 20_000; i++) {
      const a = randomVersion(random);
      const b = randomVersion(random);
      const ea = encodeVersionField(a, false, 'x').slice(0, VERSION_DIGITS);
      const eb = encodeVersionField(b, true, 'y').slice(0, VERSION_DIGITS);
      assert.equal(ea.length, VERSION_DIGITS);
      assert.match(ea, /^\d+$/);
      const expected = Math.sign(compareRowVersions(a, b));
      const actual = ea < eb ? -1 : ea > eb ? 1 : 0;
      assert.equal(actual, expected, `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
    }
  });

  it('decodes every version exactly, with the feature names', () => {
    const random = seeded(7);
    for (let i = 0; i < 2_000; i++) {
      const version = randomVersion(random);
      assert.deepEqual(decodeVersionField(encodeVersionField(version, i % 2 === 0, 'a,b_c,d')), {
        version,
        names: ['a', 'b_c', 'd'],
      });
    }
    assert.deepEqual(decodeVersionField(encodeVersionField(randomVersion(random), false, '')).names, []);
  });

  it('says which stored text is not a version field', () => {
    assert.throws(() => decodeVersionField('10||0|3|trips'), { code: 'ONLINE_STORE_CORRUPT' });
  });
});
