/**
 * Merges inputs that are each sorted by `compare` into one sorted stream of batches, holding one batch
 * per input at a time. Ties go to the earlier input, so the merge is stable.
 */
export async function* mergeSortedBatches<T>(
  inputs: readonly AsyncIterable<T[]>[],
  compare: (a: T, b: T) => number,
  batchSize = 65_536,
): AsyncIterable<T[]> {
  interface Cursor {
    order: number;
    iterator: AsyncIterator<T[]>;
    batch: T[];
    index: number;
  }
  const heap: Cursor[] = [];
  const before = (a: Cursor, b: Cursor) => {
    const c = compare(a.batch[a.index]!, b.batch[b.index]!);
    return c < 0 || (c === 0 && a.order < b.order);
  };
  const push = (cursor: Cursor) => {
    heap.push(cursor);
    for (let i = heap.length - 1; i > 0;) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  };
  const siftDown = () => {
    for (let i = 0; ;) {
      const [left, right] = [2 * i + 1, 2 * i + 2];
      let smallest = i;
      if (left < heap.length && before(heap[left]!, heap[smallest]!)) smallest = left;
      if (right < heap.length && before(heap[right]!, heap[smallest]!)) smallest = right;
      if (smallest === i) return;
      [heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!];
      i = smallest;
    }
  };
  /** Moves the cursor to its next non-empty batch; false when the input is exhausted. */
  const refill = async (cursor: Cursor): Promise<boolean> => {
    for (;;) {
      const next = await cursor.iterator.next();
      if (next.done) return false;
      if (next.value.length > 0) {
        cursor.batch = next.value;
        cursor.index = 0;
        return true;
      }
    }
  };

  const iterators = inputs.map((input) => input[Symbol.asyncIterator]());
  try {
    for (const [order, iterator] of iterators.entries()) {
      const cursor: Cursor = { order, iterator, batch: [], index: 0 };
      if (await refill(cursor)) push(cursor);
    }
    let out: T[] = [];
    while (heap.length > 0) {
      const top = heap[0]!;
      out.push(top.batch[top.index]!);
      if (out.length === batchSize) {
        yield out;
        out = [];
      }
      top.index++;
      if (top.index === top.batch.length && !(await refill(top))) {
        const last = heap.pop()!;
        if (heap.length === 0) break;
        heap[0] = last;
      }
      siftDown();
    }
    if (out.length > 0) yield out;
  } finally {
    await Promise.all(iterators.map((iterator) => iterator.return?.()));
  }
}
