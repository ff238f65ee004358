import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mergeSorted } from './merge-sorted';
import { seededRandom } from '@featurelog/testing';

async function* inBatches<T>(items: readonly T[], sizes: () => number): AsyncGenerator<T[]> {
  let start = 0;
  while (start < items.length) {
    const size = sizes();
    yield items.slice(start, start + size);
    start += size;
  }
}

async function collect<T>(stream: AsyncIterable<readonly T[]>): Promise<T[]> {
  const all: T[] = [];
  for await (const batch of stream) all.push(...batch);
  return all;
}

interface Item {
  value: number;
  source: number;
  index: number;
}
const byValue = (a: Item, b: Item) => a.value - b.value;

describe('mergeSorted', () => {
  it('merges random sorted inputs (with empty batches and empty inputs) into one stable sorted stream', async () => {
    for (let seed = 1; seed <= 200; seed++) {
      const random = seededRandom(seed);
      const inputs: Item[][] = Array.from({ length: Math.floor(random() * 6) }, (_, source) => {
        const values = Array.from({ length: Math.floor(random() * 40) }, () => Math.floor(random() * 20));
        return values.sort((a, b) => a - b).map((value, index) => ({ value, source, index }));
      });
      const merged = await collect(
        mergeSorted(
          inputs.map((items) => inBatches(items, () => Math.floor(random() * 5))),
          byValue,
          { batchSize: 1 + Math.floor(random() * 7) },
        ),
      );
      // Stable: equal values keep input order, so sorting by (value, source, index) is the expected result.
      const expected = inputs.flat().sort((a, b) => a.value - b.value || a.source - b.source || a.index - b.index);
      assert.deepEqual(merged, expected, `seed ${seed}`);
    }
  });

  it('emits nothing for no inputs', async () => {
    assert.deepEqual(await collect(mergeSorted<Item>([], byValue)), []);
  });

  it('closes every input when the consumer stops early', async () => {
    const closed: number[] = [];
    async function* endless(source: number): AsyncGenerator<Item[]> {
      try {
        for (let value = 0; ; value++) yield [{ value, source, index: value }];
      } finally {
        closed.push(source);
      }
    }
    let taken = 0;
    for await (const batch of mergeSorted([endless(0), endless(1)], byValue, { batchSize: 3 })) {
      taken += batch.length;
      if (taken >= 9) break;
    }
    assert.deepEqual(closed.sort(), [0, 1]);
  });
});
