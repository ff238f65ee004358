import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import { FeaturelogError, mergeSorted } from '@featurelog/domain';

export interface ExternalSorterOptions<T> {
  compare: (a: T, b: T) => number;
  /** Items held in memory before a sorted run is spilled to disk. */
  maxInMemory?: number;
  /** Where run files go; a fresh directory under the OS temp directory when absent. */
  directory?: string;
  /** Items per frame of a run file and per emitted batch. */
  batchSize?: number;
  /**
   * How a frame of items is laid out for v8 serialization; identity by default. v8 writes every object's
   * property names again, so a columnar layout of many small objects serializes several times faster.
   */
  frameCodec?: FrameCodec<T>;
}

export interface FrameCodec<T> {
  encode(items: T[]): unknown;
  decode(frame: unknown): T[];
}

const IDENTITY: FrameCodec<never> = { encode: (items) => items, decode: (frame) => frame as never[] };

/** Bytes of the length prefix of each frame in a run file. */
const FRAME_HEADER = 4;

/**
 * Sorts more items than memory holds: items are buffered up to `maxInMemory`, each full buffer is
 * sorted and written to a run file (v8-serialized frames of `batchSize` items, which keep every
 * FeatureValue type exact, bytes included), and `sorted()` k-way merges the runs with what is left in
 * memory. Memory stays at one buffer, or one frame per run while merging. Equal items keep the order in
 * which they were added (runs merge in creation order and Array#sort is stable).
 */
export class ExternalSorter<T> {
  private buffer: T[] = [];
  private readonly runs: string[] = [];
  private directory: string | undefined;
  private ownsDirectory = false;
  private readonly compare: (a: T, b: T) => number;
  private readonly maxInMemory: number;
  private readonly batchSize: number;
  private readonly frameCodec: FrameCodec<T>;
  private count = 0;
  private finished = false;

  constructor({
    compare,
    maxInMemory = 250_000,
    directory,
    batchSize = 4096,
    frameCodec = IDENTITY as FrameCodec<T>,
  }: ExternalSorterOptions<T>) {
    if (!Number.isInteger(maxInMemory) || maxInMemory < 1) {
      throw new FeaturelogError('SORTER_INVALID_OPTION', `maxInMemory ${maxInMemory} must be a positive integer`);
    }
    this.compare = compare;
    this.maxInMemory = maxInMemory;
    this.batchSize = batchSize;
    this.frameCodec = frameCodec;
    this.directory = directory;
  }

  /** Items added so far. */
  get size(): number {
    return this.count;
  }

  /** Sorted runs written to disk so far. */
  get spilledRuns(): number {
    return this.runs.length;
  }

  async add(items: readonly T[]): Promise<void> {
    if (this.finished) throw new FeaturelogError('SORTER_FINISHED', 'items were added after sorted() was called');
    for (const item of items) {
      this.buffer.push(item);
      if (this.buffer.length >= this.maxInMemory) await this.spill();
    }
    this.count += items.length;
  }

  /**
   * The items as added, unsorted, when none was spilled (for a caller that can place them faster than a
   * sort, e.g. by index); undefined once runs exist. Like {@link sorted}, it ends adding.
   */
  takeUnsorted(): T[] | undefined {
    if (this.runs.length > 0) return undefined;
    this.finished = true;
    const items = this.buffer;
    this.buffer = [];
    return items;
  }

  /** Every item added, in order, in batches; call once. Run files are removed by {@link close}. */
  async *sorted(): AsyncGenerator<T[]> {
    this.finished = true;
    const rest = this.buffer.sort(this.compare);
    this.buffer = [];
    if (this.runs.length === 0) {
      for (let start = 0; start < rest.length; start += this.batchSize) {
        yield rest.slice(start, start + this.batchSize);
      }
      return;
    }
    const inputs: AsyncIterable<readonly T[]>[] = this.runs.map((path) => readRun<T>(path, this.frameCodec));
    if (rest.length > 0) inputs.push(inMemory(rest, this.batchSize));
    yield* mergeSorted(inputs, this.compare, { batchSize: this.batchSize });
  }

  /** Removes the run files (and the directory the sorter made). Safe to call more than once. */
  async close(): Promise<void> {
    this.buffer = [];
    const runs = this.runs.splice(0);
    if (this.ownsDirectory && this.directory !== undefined) {
      await rm(this.directory, { recursive: true, force: true });
      this.directory = undefined;
    } else {
      await Promise.all(runs.map((path) => rm(path, { force: true })));
    }
  }

  private async spill(): Promise<void> {
    const items = this.buffer.sort(this.compare);
    this.buffer = [];
    if (this.directory === undefined) {
      this.directory = await mkdtemp(join(tmpdir(), 'featurelog-sort-'));
      this.ownsDirectory = true;
    }
    const path = join(
      this.directory,
      `run-${randomBytes(6).toString('hex')}-${String(this.runs.length).padStart(5, '0')}.v8`,
    );
    this.runs.push(path);
    const handle = await open(path, 'wx');
    try {
      const frames: Buffer[] = [];
      let pending = 0;
      for (let start = 0; start < items.length; start += this.batchSize) {
        const body = serialize(this.frameCodec.encode(items.slice(start, start + this.batchSize)));
        const header = Buffer.allocUnsafe(FRAME_HEADER);
        header.writeUInt32LE(body.length, 0);
        frames.push(header, body);
        pending += body.length;
        if (pending >= 8 << 20) {
          await handle.writev(frames.splice(0));
          pending = 0;
        }
      }
      if (frames.length > 0) await handle.writev(frames);
    } catch (error) {
      throw new FeaturelogError(
        'SORTER_SPILL_FAILED',
        `could not write sorted run ${path}: ${(error as Error).message}`,
        {
          retriable: true,
          cause: error,
        },
      );
    } finally {
      await handle.close();
    }
  }
}

async function* inMemory<T>(items: T[], batchSize: number): AsyncGenerator<T[]> {
  for (let start = 0; start < items.length; start += batchSize) yield items.slice(start, start + batchSize);
}

/** Reads a run file frame by frame, with a read-ahead buffer so most frames cost no system call. */
async function* readRun<T>(path: string, frameCodec: FrameCodec<T>): AsyncGenerator<T[]> {
  const handle: FileHandle = await open(path, 'r');
  try {
    const readAhead = 4 << 20;
    let chunk = Buffer.alloc(0);
    let position = 0;
    const fill = async (needed: number): Promise<boolean> => {
      while (chunk.length < needed) {
        const more = Buffer.allocUnsafe(Math.max(readAhead, needed - chunk.length));
        const { bytesRead } = await handle.read(more, 0, more.length, position);
        if (bytesRead === 0) return false;
        position += bytesRead;
        chunk = chunk.length === 0 ? more.subarray(0, bytesRead) : Buffer.concat([chunk, more.subarray(0, bytesRead)]);
      }
      return true;
    };
    for (;;) {
      if (!(await fill(FRAME_HEADER))) {
        if (chunk.length === 0) return;
        throw truncated(path);
      }
      const length = chunk.readUInt32LE(0);
      if (!(await fill(FRAME_HEADER + length))) throw truncated(path);
      const items = frameCodec.decode(deserialize(chunk.subarray(FRAME_HEADER, FRAME_HEADER + length)));
      chunk = chunk.subarray(FRAME_HEADER + length);
      yield items;
    }
  } finally {
    await handle.close();
  }
}

function truncated(path: string): FeaturelogError {
  return new FeaturelogError('SORTER_RUN_TRUNCATED', `sorted run ${path} ends inside a frame`);
}
