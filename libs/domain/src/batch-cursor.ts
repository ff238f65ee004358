/**
 * Reads a stream of batches one item at a time, holding one batch. `advance` returns a promise only
 * when a new batch must be fetched, so the hot path over a batch costs no microtask per item.
 */
export class BatchCursor<T> {
  /** The current item, or undefined once the stream is exhausted. */
  current: T | undefined;
  private batch: readonly T[] = [];
  private index = 0;
  private readonly iterator: AsyncIterator<readonly T[]>;

  private constructor(iterable: AsyncIterable<readonly T[]>) {
    this.iterator = iterable[Symbol.asyncIterator]();
  }

  static async open<T>(iterable: AsyncIterable<readonly T[]>): Promise<BatchCursor<T>> {
    const cursor = new BatchCursor(iterable);
    await cursor.fetch();
    return cursor;
  }

  /** Moves to the next item; await the result when it is a promise. */
  advance(): Promise<void> | undefined {
    this.index += 1;
    if (this.index < this.batch.length) {
      this.current = this.batch[this.index];
      return undefined;
    }
    return this.fetch();
  }

  /** Stops the underlying stream early (e.g. the consumer stopped reading). */
  async close(): Promise<void> {
    this.current = undefined;
    this.batch = [];
    await this.iterator.return?.();
  }

  private async fetch(): Promise<void> {
    for (;;) {
      const next = await this.iterator.next();
      if (next.done) {
        this.batch = [];
        this.index = 0;
        this.current = undefined;
        return;
      }
      if (next.value.length > 0) {
        this.batch = next.value;
        this.index = 0;
        this.current = next.value[0];
        return;
      }
    }
  }
}
