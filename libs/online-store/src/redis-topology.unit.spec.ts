import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { keySlot } from './redis-topology';

describe('keySlot: the hash slot Redis gives a key', () => {
  it('is CRC16 (XMODEM) of the key modulo 16384', () => {
    // The check value of CRC16/XMODEM, as in the Redis Cluster specification.
    assert.equal(keySlot('123456789'), 0x31c3);
    assert.equal(keySlot(''), 0);
  });

  it('hashes only the hash tag: between the first { and the first } after it, when not empty (Redis Cluster spec)', () => {
    assert.equal(keySlot('{user1000}.following'), keySlot('user1000'));
    assert.equal(keySlot('foo{bar}{zap}'), keySlot('bar'));
    assert.equal(keySlot('foo{{bar}}zap'), keySlot('{bar'));
    // An empty tag means no tag: the whole key (cluster-key-slot 1.1 gets `{}}` wrong, see keySlot).
    // The numbers are what Redis 7.0 answers to CLUSTER KEYSLOT.
    assert.equal(keySlot('p:{}}'), 8194);
    assert.equal(keySlot('foo{}{bar}'), 8363);
    assert.equal(keySlot('no tag {here'), 4645);
  });

  it('hashes the UTF-8 bytes Redis receives', () => {
    assert.equal(keySlot('{ü🌍}x'), keySlot('ü🌍'));
  });
});
