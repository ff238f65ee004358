import { extname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { FeaturelogError } from '@featurelog/domain';
import type { KeyForm, SegmentSchema } from '@featurelog/offline-store';
import type { EntityColumns, ViewWinnersData } from '@featurelog/pit';
import type { EncodedRowGroup, RowGroupColumn, TrainingSetColumn } from './training-set-writer';

/** Segments still to join, taken one at a time by whichever thread is free. */
export class SegmentQueue {
  private next = 0;

  constructor(private readonly tasks: readonly SegmentJoinTask[]) {}

  take(): SegmentJoinTask | undefined {
    return this.tasks[this.next++];
  }

  /** Leaves nothing more to take (a thread failed). */
  clear(): void {
    this.next = this.tasks.length;
  }
}

/** One segment to join into the current view's winners. */
export interface SegmentJoinTask {
  path: string;
  schema: SegmentSchema;
  /** Partition → watermark offset, when the segment reaches past the watermark; else null. */
  keep: [number, number][] | null;
}

export interface ViewJoinSpec {
  features: string[];
  numeric: boolean[];
  ttlSeconds: number;
  keyForm: KeyForm;
  withAppendTime: boolean;
  asServed: boolean;
}

export type SegmentJoinRequest =
  | { type: 'entities'; entities: EntityColumns }
  | { type: 'view'; features: string[]; numeric: boolean[]; ttlSeconds: number }
  | ({ type: 'segment' } & SegmentJoinTask & Omit<ViewJoinSpec, 'numeric' | 'ttlSeconds'>)
  | { type: 'finish' }
  | { type: 'encode'; id: number; columns: TrainingSetColumn[]; data: RowGroupColumn[]; rows: number };

export type SegmentJoinReply =
  | { type: 'joined'; historyRows: number }
  | { type: 'winners'; data: ViewWinnersData | null }
  | { type: 'encoded'; id: number; group: EncodedRowGroup }
  | { type: 'error'; code: string; message: string; retriable: boolean };

const WORKER_HEAP_MB = 256;
const WORKER_FILE = join(__dirname, `segment-join.worker${extname(__filename)}`);
/**
 * Run from TypeScript sources, the worker needs the SWC hook, which a worker inherits from `node -r` but
 * not from a process that registered it in code (bin/featurelog.js).
 */
const WORKER_BOOTSTRAP =
  extname(__filename) === '.ts'
    ? `if (!require.extensions['.ts']) require(${JSON.stringify(require.resolve('@swc-node/register'))});\n` +
      `require(${JSON.stringify(WORKER_FILE)});`
    : `require(${JSON.stringify(WORKER_FILE)});`;

/**
 * Worker threads that join segments point in time (decode + joinHistorySource), so an export uses every
 * core like the engines it is compared with. Work is split by segment: each worker joins whole segments
 * into its own winners for the view, and the caller merges them (the greatest of a union is the greatest
 * of the parts). Entity rows are shared, not copied, when their keys are numbers (SharedArrayBuffer).
 */
export class SegmentJoinPool {
  private readonly workers: Worker[];
  private failure: Error | undefined;
  private nextEncoder = 0;
  private nextId = 0;

  private constructor(size: number) {
    this.workers = Array.from({ length: size }, () => {
      // A worker holds one view's winners for the frame and one decoded row group: a small old generation
      // keeps its garbage (and so the process's peak memory) bounded.
      const worker = new Worker(WORKER_BOOTSTRAP, {
        eval: true,
        resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
      });
      worker.on('error', (error) => (this.failure ??= error));
      return worker;
    });
  }

  static start(size: number): SegmentJoinPool {
    return new SegmentJoinPool(size);
  }

  get size(): number {
    return this.workers.length;
  }

  /** The entity rows of the next views' joins (one pass). */
  setEntities(entities: EntityColumns): void {
    for (const worker of this.workers) worker.postMessage({ type: 'entities', entities } satisfies SegmentJoinRequest);
  }

  /**
   * Joins the segments of `queue` across the workers (each takes the next one when done with one; the
   * calling thread may take some too); resolves with each worker's winners (none for a worker that got no
   * segment) and the history rows read.
   */
  async joinView(
    spec: ViewJoinSpec,
    queue: SegmentQueue,
    onSegment: () => void = () => undefined,
  ): Promise<{ winners: ViewWinnersData[]; historyRows: number }> {
    if (this.failure) throw this.failure;
    const { features, numeric, ttlSeconds, ...read } = spec;
    let historyRows = 0;
    const run = (worker: Worker) =>
      converse<ViewWinnersData | null>(
        worker,
        (reply, done) => {
          if (reply.type === 'joined') {
            historyRows += reply.historyRows;
            onSegment();
            dispatch(worker);
          } else if (reply.type === 'winners') {
            done(reply.data);
          }
        },
        () => {
          worker.postMessage({ type: 'view', features, numeric, ttlSeconds } satisfies SegmentJoinRequest);
          dispatch(worker);
        },
      );
    const dispatch = (worker: Worker) => {
      const task = queue.take();
      const request: SegmentJoinRequest =
        task === undefined ? { type: 'finish' } : { type: 'segment', ...task, ...read, features };
      worker.postMessage(request);
    };
    const results = await Promise.all(this.workers.map(run));
    return { winners: results.filter((data) => data !== null), historyRows };
  }

  /** Encodes a training-set row group on the next worker (round robin). */
  encode(columns: TrainingSetColumn[], data: RowGroupColumn[], rows: number): Promise<EncodedRowGroup> {
    if (this.failure) return Promise.reject(this.failure);
    const worker = this.workers[this.nextEncoder++ % this.workers.length]!;
    const id = this.nextId++;
    return converse<EncodedRowGroup>(
      worker,
      (reply, done) => {
        if (reply.type === 'encoded' && reply.id === id) done(reply.group);
      },
      () => worker.postMessage({ type: 'encode', id, columns, data, rows } satisfies SegmentJoinRequest),
    );
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }
}

/**
 * One exchange with a worker: listens to its replies until `onReply` calls `done`, fails on a worker
 * error or an `error` reply (as the FeaturelogError the worker raised), and stops listening either way.
 * `start` sends the first request once the listeners are in place.
 */
function converse<T>(
  worker: Worker,
  onReply: (reply: SegmentJoinReply, done: (value: T) => void) => void,
  start: () => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const cleanup = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const onMessage = (reply: SegmentJoinReply) => {
      if (reply.type === 'error') {
        cleanup();
        reject(new FeaturelogError(reply.code, reply.message, { retriable: reply.retriable }));
      } else {
        onReply(reply, (value) => {
          cleanup();
          resolve(value);
        });
      }
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    start();
  });
}
