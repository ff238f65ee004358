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
  });
});
