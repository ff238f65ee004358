import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { clusterId } from './kafka';

/** A draw that hands out the given byte arrays in turn. */
function draws(...values: number[][]): (size: number) => Buffer {
  let next = 0;
  return (size) => {
    const value = values[next++];
    assert.ok(value, 'clusterId drew more often than the test planned');
    assert.equal(value.length, size);
    return Buffer.from(value);
  };
}

describe('clusterId', () => {
  it('draws again when the id would start with "-", which kafka-storage reads as an option', () => {
    const dash = [0xf8, ...Array<number>(15).fill(7)];
    assert.ok(Buffer.from(dash).toString('base64url').startsWith('-'));
    const good = [0x10, ...Array<number>(15).fill(7)];
    assert.equal(clusterId(draws(dash, good)), Buffer.from(good).toString('base64url'));
  });

  it('draws again for the reserved all-zero and metadata-topic ids', () => {
    const zero = Array<number>(16).fill(0);
    const metadata = [...Array<number>(15).fill(0), 1];
    const good = [...Array<number>(15).fill(0), 2];
    assert.equal(clusterId(draws(zero, metadata, good)), Buffer.from(good).toString('base64url'));
  });

  it('gives 22 base64url characters that never start with "-" over many draws', () => {
    for (let i = 0; i < 5_000; i++) {
      const id = clusterId();
      assert.match(id, /^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
    }
  });
});
