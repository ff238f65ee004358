import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseJsonExact } from '@featurelog/domain';

describe('parseJsonExact', () => {
  it('reads an integer literal beyond 2^53 as its exact bigint, and everything else as JSON.parse does', () => {
    assert.deepEqual(parseJsonExact('{"a":9007199254740993,"b":[-9007199254740993,9007199254740991,1.5,1e20]}'), {
      a: 9007199254740993n,
      b: [-9007199254740993n, 9007199254740991, 1.5, 1e20],
    });
    assert.equal(parseJsonExact('9007199254740992'), 9007199254740992n);
  });

  it('refuses malformed text and a __proto__ key as INVALID_JSON', () => {
    assert.throws(() => parseJsonExact('{"a":'), { code: 'INVALID_JSON' });
    assert.throws(() => parseJsonExact('{"__proto__":{"x":1}}'), { code: 'INVALID_JSON', message: /__proto__/ });
    // Spelled with escapes, which the fast path (no reviver) must not let through either.
    assert.throws(() => parseJsonExact('{"\\u005f_proto__":{"x":1}}'), { code: 'INVALID_JSON', message: /__proto__/ });
    assert.throws(() => parseJsonExact('{"a":1,'), { code: 'INVALID_JSON' });
  });

  it('gives what JSON.parse gives wherever no integer is past 2^53 (the fast path without a reviver)', () => {
    for (const text of [
      '{"entities":{"driver_id":[1001,-5,0]},"features":["v:f"],"full_feature_names":true}',
      '{"a":"__proto","b":"9007199254740993","c":[1.5e300,-0.0,123456789012345]}',
      '{"s":"caf\\u00e9 \\n","n":null,"x":1234567890123456.5}',
      '[]',
      '"text"',
      '12',
    ]) {
      assert.deepEqual(parseJsonExact(text), JSON.parse(text), text);
    }
    // A string of 16+ digits stays a string; the integer literal beside it is exact.
    assert.deepEqual(parseJsonExact('{"k":"12345678901234567","v":12345678901234567}'), {
      k: '12345678901234567',
      v: 12345678901234567n,
    });
  });
});
