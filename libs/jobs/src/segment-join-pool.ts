import { extname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { FeaturelogError } from '@featurelog/domain';
import type { SegmentSchema } from '@featurelog/offline-store';
import type { EntityColumns, ViewWinnersData } from '@featurelog/pit';
import type { KeyForm } from './history-columns';

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
  | { type: 'finish' };

export type SegmentJoinReply =
  | { type: 'joined'; historyRows: number }
  | { type: 'winners'; data: ViewWinnersData | null }
  | { type: 'error'; code: string; message: string; retriable: boolean };

const WORKER_FILE = join(__dirname, `segment-join.worker${extname(__filename)}`);

/**
 * Worker threads that join segments point in time (decode + joinHistorySource), so an export uses every
 * core like the engines it is compared with. Work is split by segment: each worker joins whole segments
 * into its own winners for the view, and the caller merges them (the greatest of a union is the greatest
 * of the parts). Entity rows are shared, not copied, when their keys are numbers (SharedArrayBuffer).
 */
export class SegmentJoinPool {
  private readonly workers: Worker[];
  private failure: Error | undefined;

  private constructor(size: number) {
    this.workers = Array.from({ length: size }, () => {
      const worker = new Worker(WORKER_FILE);
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
   * Joins `tasks` across the workers (each takes the next segment when done with one); resolves with each
   * worker's winners (null for a worker that got no segment) and the history rows read.
   */
  async joinView(
    spec: ViewJoinSpec,
    tasks: readonly SegmentJoinTask[],
    onSegment: () => void = () => undefined,
  ): Promise<{ winners: ViewWinnersData[]; historyRows: number }> {
    if (this.failure) throw this.failure;
    const { features, numeric, ttlSeconds, ...read } = spec;
    let next = 0;
    let historyRows = 0;
    const run = (worker: Worker) =>
      new Promise<ViewWinnersData | null>((resolve, reject) => {
        const onError = (error: Error) => {
          cleanup();
          reject(error);
        };
        const onMessage = (reply: SegmentJoinReply) => {
          if (reply.type === 'error') {
            cleanup();
            reject(new FeaturelogError(reply.code, reply.message, { retriable: reply.retriable }));
          } else if (reply.type === 'joined') {
            historyRows += reply.historyRows;
            onSegment();
            dispatch();
          } else {
            cleanup();
            resolve(reply.data);
          }
        };
        const dispatch = () => {
          const task = tasks[next++];
          const request: SegmentJoinRequest =
            task === undefined ? { type: 'finish' } : { type: 'segment', ...task, ...read, features };
          worker.postMessage(request);
        };
        const cleanup = () => {
          worker.off('message', onMessage);
          worker.off('error', onError);
        };
        worker.on('message', onMessage);
        worker.on('error', onError);
        worker.postMessage({ type: 'view', features, numeric, ttlSeconds } satisfies SegmentJoinRequest);
        dispatch();
      });
    const results = await Promise.all(this.workers.map(run));
    return { winners: results.filter((data) => data !== null), historyRows };
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }
}
