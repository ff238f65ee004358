import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { OffsetIntervalIndex, type HeldRange } from './offset-interval-index';

describe('offset interval index', () => {
  it('finds exactly the held ranges a brute-force scan finds, through random inserts and deletes', () => {
    let seed = 7;
    const int = (below: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % below;
    };
    const index = new OffsetIntervalIndex<string>();
    const held: HeldRange<string>[] = [];
    for (let step = 0; step < 5_000; step++) {
      if (held.length > 0 && int(3) === 0) {
        const [gone] = held.splice(int(held.length), 1);
        assert.equal(index.delete(gone!.fromOffset, gone!.id), true);
        assert.equal(index.delete(gone!.fromOffset, gone!.id), false, 'a range is deleted once');
      } else {
        // Overlapping and equal starts included: the index must not assume disjoint ranges.
        const fromOffset = int(500);
        const range = { fromOffset, untilOffset: fromOffset + 1 + int(40), id: step, value: `r${step}` };
        index.insert(range);
        held.push(range);
      }
      assert.equal(index.size, held.length);
      const from = int(560);
      const until = from + 1 + int(60);
      const expected = held
        .filter((r) => r.fromOffset < until && r.untilOffset > from)
        .sort((a, b) => a.fromOffset - b.fromOffset || a.id - b.id)
        .map((r) => r.value);
      assert.deepEqual(
        index.intersecting(from, until).map((r) => r.value),
        expected,
        `step ${step}: [${from}, ${until})`,
      );
    }
  });
});
