import { BatchCursor } from './batch-cursor';
import { MinHeap } from './min-heap';

export interface MergeSortedOptions {
  /** Items per emitted batch. */
  batchSize?: number;
}

/**
 * K-way merge of streams that are each sorted by `compare` (e.g. Parquet segments and the log
 * tail of one view) into one sorted stream of batches. Holds one batch per input plus one output
 * batch; a binary heap picks the next item in O(log k). Equal items come out in input order, so
 * the merge is stable.
 */
export async function* mergeSorted<T>(
  inputs: readonly AsyncIterable<readonly T[]>[],
  compare: (a: T, b: T) => number,
  { batchSize = 4096 }: MergeSortedOptions = {},
): AsyncGenerator<T[]> {
  const cursors = await Promise.all(inputs.map((input) => BatchCursor.open(input)));
  try {
    const heap = new MinHeap<{ cursor: BatchCursor<T>; source: number }>((a, b) => {
      const order = compare(a.cursor.current as T, b.cursor.current as T);
      return order < 0 || (order === 0 && a.source < b.source);
    });
    cursors.forEach((cursor, source) => {
      if (cursor.current !== undefined) heap.push({ cursor, source });
    });
    let out: T[] = [];
    for (let top = heap.peek(); top !== undefined; top = heap.peek()) {
      out.push(top.cursor.current as T);
      const fetching = top.cursor.advance();
      if (fetching) await fetching;
      if (top.cursor.current === undefined) heap.pop();
      else heap.topChanged();
      if (out.length >= batchSize) {
        yield out;
        out = [];
      }
    }
    if (out.length > 0) yield out;
  } finally {
    await Promise.all(cursors.map((cursor) => cursor.close()));
  }
}
