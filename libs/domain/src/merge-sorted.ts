import { BatchCursor } from './batch-cursor';
import { MinHeap } from './min-heap';

export interface MergeSortedOptions {
  /** Items per emitted batch. */
  batchSize?: number;
}

/**
 * K-way merge of streams that are each sorted by `compare` (e.g. Parquet segments and the log
 * tail of one view, segments compacted into one, spilled runs of a sort) into one sorted stream of
 * batches. Holds one batch per input plus one output batch; a binary heap picks the next item in
 * O(log k). Equal items come out in input order, so the merge is stable. Every input is closed when
 * the merge ends, fails, or its consumer stops early.
 */
export async function* mergeSorted<T>(
  inputs: readonly AsyncIterable<readonly T[]>[],
  compare: (a: T, b: T) => number,
  { batchSize = 4096 }: MergeSortedOptions = {},
): AsyncGenerator<T[]> {
  const opened = await Promise.allSettled(inputs.map((input) => BatchCursor.open(input)));
  const cursors = opened.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const failed = opened.find((result) => result.status === 'rejected');
  if (failed !== undefined) {
    // The inputs that did open hold files or connections of their own.
    await Promise.all(cursors.map((cursor) => cursor.close()));
    throw failed.reason;
  }
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
