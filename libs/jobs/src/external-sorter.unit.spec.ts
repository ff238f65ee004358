import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExternalSorter } from '@featurelog/jobs';

interface Item {
  key: number;
  seq: number;
  bytes: Uint8Array;
  list: (string | null)[] | null;
}

async function collect<T>(iterable: AsyncIterable<T[]>): Promise<T[]> {
  const out: T[] = [];
  for await (const batch of iterable) out.push(...batch);
  return out;
}

describe('ExternalSorter', () => {
  it('spills sorted runs beyond its bound and merges them stably, values exact (bytes, lists, nulls)', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'featurelog-sorter-'));
    try {
      const sorter = new ExternalSorter<Item>({
        compare: (a, b) => a.key - b.key,
        maxInMemory: 100,
        directory,
        batchSize: 7,
      });
      const items: Item[] = Array.from({ length: 1234 }, (_, seq) => ({
        key: (seq * 7919) % 37,
        seq,
        bytes: Uint8Array.from([seq % 256, 0, 255]),
        list: seq % 3 === 0 ? null : ['a', null, String(seq)],
      }));
      for (let i = 0; i < items.length; i += 50) await sorter.add(items.slice(i, i + 50));
      assert.equal(sorter.spilledRuns, 12);
      assert.equal(sorter.size, items.length);
      const sorted = await collect(sorter.sorted());
      const expected = [...items].sort((a, b) => a.key - b.key || a.seq - b.seq);
      assert.deepEqual(
        sorted.map((item) => ({ ...item, bytes: Uint8Array.from(item.bytes) })),
        expected,
      );
      assert.ok(readdirSync(directory).length > 0);
      await sorter.close();
      assert.deepEqual(readdirSync(directory), []);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('sorts in memory without touching the disk when everything fits, and cleans its own directory', async () => {
    const sorter = new ExternalSorter<number>({ compare: (a, b) => a - b, maxInMemory: 10 });
    await sorter.add([5, 3, 9]);
    assert.deepEqual(await collect(sorter.sorted()), [3, 5, 9]);
    assert.equal(sorter.spilledRuns, 0);
    const spilling = new ExternalSorter<number>({ compare: (a, b) => a - b, maxInMemory: 2 });
    await spilling.add([4, 1, 3, 2, 0]);
    assert.deepEqual(await collect(spilling.sorted()), [0, 1, 2, 3, 4]);
    const dir = (spilling as unknown as { directory: string }).directory;
    assert.ok(existsSync(dir));
    await spilling.close();
    assert.ok(!existsSync(dir));
  });
});
