import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mergeSorted } from '@featurelog/domain';
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

  it('k-way merges sorted batches stably, whatever the batch boundaries', async () => {
    async function* batched<T>(values: T[], size: number): AsyncIterable<T[]> {
      for (let i = 0; i < values.length; i += size) yield values.slice(i, i + size);
      yield [];
    }
    const inputs = [[1, 4, 4, 9, 12], [], [0, 4, 5, 5, 6, 100], [2, 3, 4]];
    const tagged = inputs.map((values, input) => values.map((value) => ({ value, input })));
    const out: { value: number; input: number }[] = [];
    for await (const batch of mergeSorted(
      tagged.map((values, i) => batched(values, i + 1)),
      (a, b) => a.value - b.value,
      { batchSize: 4 },
    )) {
      assert.ok(batch.length <= 4);
      out.push(...batch);
    }
    const expected = tagged.flat().sort((a, b) => a.value - b.value || a.input - b.input);
    assert.deepEqual(out, expected);
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

  it('closes the inputs that opened when another fails to', async () => {
    const closed: number[] = [];
    async function* opens(source: number): AsyncGenerator<Item[]> {
      try {
        yield [{ value: 0, source, index: 0 }];
      } finally {
        closed.push(source);
      }
    }
    async function* fails(): AsyncGenerator<Item[]> {
      yield* [];
      throw new Error('unreadable');
    }
    await assert.rejects(collect(mergeSorted([opens(0), fails(), opens(2)], byValue)), /unreadable/);
    assert.deepEqual(closed.sort(), [0, 2]);
  });
});
