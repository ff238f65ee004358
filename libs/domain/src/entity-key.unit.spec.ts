import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeEntityKey, encodeEntityKey, type JoinKey } from '@featurelog/domain';
import { seededRandom } from '@featurelog/testing';

const keys: JoinKey[] = [
  { name: 'trip_id', type: 'string' },
  { name: 'driver_id', type: 'int64' },
];

describe('encodeEntityKey', () => {
  it('writes name=value pairs sorted by join key name', () => {
    assert.equal(encodeEntityKey(keys, { trip_id: 'abc', driver_id: 1001 }), 'driver_id=1001|trip_id=abc');
    assert.equal(encodeEntityKey([{ name: 'driver_id', type: 'int64' }], { driver_id: -5 }), 'driver_id=-5');
  });

  it('encodes every join key type', () => {
    const all: JoinKey[] = [
      { name: 'a', type: 'bool' },
      { name: 'b', type: 'int32' },
      { name: 'c', type: 'bytes' },
      { name: 'd', type: 'string' },
    ];
    const text = encodeEntityKey(all, { a: true, b: 2147483647, c: new Uint8Array([0, 15, 255]), d: '' });
    assert.equal(text, 'a=true|b=2147483647|c=000fff|d=');
    assert.deepEqual(decodeEntityKey(all, text), { a: true, b: 2147483647, c: new Uint8Array([0, 15, 255]), d: '' });
  });

  it('escapes separators, the escape character and control characters in strings', () => {
    const text = encodeEntityKey(keys, { trip_id: 'a|b=c%d\ne', driver_id: 1 });
    assert.equal(text, 'driver_id=1|trip_id=a%7Cb%3Dc%25d%0Ae');
    assert.equal(decodeEntityKey(keys, text).trip_id, 'a|b=c%d\ne');
    assert.equal(encodeEntityKey(keys, { trip_id: 'ünïcödé 🚗', driver_id: 1 }), 'driver_id=1|trip_id=ünïcödé 🚗');
  });

  it('takes an int64 past 2^53 exactly as a bigint, and a bigint as the same key as its number', () => {
    assert.equal(
      encodeEntityKey(keys, { trip_id: 'x', driver_id: 2n ** 53n + 1n }),
      'driver_id=9007199254740993|trip_id=x',
    );
    assert.equal(
      encodeEntityKey(keys, { trip_id: 'x', driver_id: 10n }),
      encodeEntityKey(keys, { trip_id: 'x', driver_id: 10 }),
    );
    assert.equal(
      encodeEntityKey(keys, { trip_id: 'x', driver_id: -(2n ** 63n) }),
      'driver_id=-9223372036854775808|trip_id=x',
    );
  });

  it('refuses missing and mistyped values, naming the key', () => {
    assert.throws(() => encodeEntityKey(keys, { trip_id: 'x' }), { code: 'MISSING_JOIN_KEY', message: /driver_id/ });
    assert.throws(() => encodeEntityKey(keys, { trip_id: 'x', driver_id: null }), { code: 'MISSING_JOIN_KEY' });
    for (const bad of ['1001', 1.5, 2 ** 53, 2n ** 63n, -(2n ** 63n) - 1n, true]) {
      assert.throws(() => encodeEntityKey(keys, { trip_id: 'x', driver_id: bad }), {
        code: 'INVALID_JOIN_KEY_VALUE',
        message: /join key "driver_id" \(int64\)/,
      });
    }
    assert.throws(() => encodeEntityKey(keys, { trip_id: 7, driver_id: 1 }), {
      code: 'INVALID_JOIN_KEY_VALUE',
      message: /trip_id/,
    });
    assert.throws(() => encodeEntityKey([{ name: 'n', type: 'int32' }], { n: 2 ** 31 }), {
      code: 'INVALID_JOIN_KEY_VALUE',
    });
    assert.throws(() => encodeEntityKey([{ name: 'f', type: 'float64' }], { f: 1 }), {
      code: 'INVALID_JOIN_KEY_VALUE',
    });
  });

  it('refuses text that is not the canonical encoding', () => {
    for (const text of [
      'driver_id=1',
      'trip_id=a|driver_id=1',
      'driver_id=01|trip_id=a',
      'driver_id=1.0|trip_id=a',
      'driver_id=1|trip_id=a%7cb',
      'driver_id=1|trip_id=a%41',
      'driver_id=1|trip_id=a%',
      'driver_id=1|trip_id=a=b',
      'driver_id=99999999999999999|trip_id=a',
    ]) {
      assert.throws(() => decodeEntityKey(keys, text), { code: 'INVALID_ENTITY_KEY' }, text);
    }
  });

  it('round-trips random values, and distinct values give distinct keys (randomized)', () => {
    const random = seededRandom(42);
    const alphabet = ['a', 'b', '|', '=', '%', '\n', '7', ' ', 'é'];
    const seen = new Map<string, string>();
    for (let i = 0; i < 3000; i++) {
      const length = Math.floor(random() * 4);
      const values = {
        trip_id: Array.from({ length }, () => alphabet[Math.floor(random() * alphabet.length)]).join(''),
        driver_id: Math.floor((random() - 0.5) * 20),
      };
      const text = encodeEntityKey(keys, values);
      assert.deepEqual(decodeEntityKey(keys, text), values);
      const identity = JSON.stringify(values);
      assert.equal(seen.get(text) ?? identity, identity, `collision on ${text}`);
      seen.set(text, identity);
    }
  });
});
