import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { FeaturelogError, topicNames } from '@featurelog/domain';
import type { EventLog, LogRecord, PoisonedRecord } from '@featurelog/log';
import { ProjectionRuntime } from '@featurelog/projection';
import type { Projection, StreamContext, StreamRun, StreamSpec } from '@featurelog/projection';
import { decodeJobEvent, encodeJobEvent, evolveJobs, isJobEnded } from './job-events';
import type { JobEvent, JobSpec, JobState } from './job-events';
import type { JobProgress } from './export-training-set';
import { requestJobCancel, submitJob, type CancelJobOptions, type SubmittedJob } from './job-client';

/**
 * Runs one job; reports progress as it goes; resolves with a JSON-serialisable result. Once `signal`
 * aborts (the job was cancelled), it stops at its next stage, removes what it wrote, and rejects.
 */
export type JobExecutor = (
  spec: JobSpec,
  onProgress: (progress: JobProgress) => void,
  signal?: AbortSignal,
) => Promise<unknown>;

export interface JobWorkerOptions {
  log: EventLog;
  project: string;
  execute: JobExecutor;
  /** Names this worker in progress and outcome events. */
  workerId?: string;
  /** Consumer group following `<project>.jobs`. */
  groupId?: string;
  /** Least time between two progress events of one job (a phase change is always published). */
  progressIntervalMs?: number;
}

const MICROS_PER_MILLI = 1000;

/**
 * Follows `<project>.jobs` and runs the jobs requested there, one at a time, publishing progress and
 * the outcome. On start it folds the topic from the beginning: a job requested but never finished (the
 * previous worker died mid-job, or never got to it) runs again — exports and backfills are idempotent
 * (an export renames its file into place; a backfill writes by last-write-wins). Jobs run outside the
 * consumer's batch handler, so a long export never stalls the consumer group's heartbeats.
 *
 * A cancel request (JobCancelRequested) of the job running here aborts it: the executor stops at its
 * next stage and cleans up, and the worker reports JobCancelled. A job cancelled before any worker
 * reported on it is never run, whenever a worker starts (the fold says it is cancelled).
 *
 * It is a projection of one stream (see ProjectionRuntime): a failed subscription starts again from the
 * last event folded, and an event that cannot be decoded goes to the dead-letter topic once.
 *
 * One worker per project: two would both pick up unfinished jobs when they start.
 */
export class JobWorker implements Projection<undefined> {
  readonly workerId: string;
  readonly name: string;
  private readonly topic: string;
  /** The runtime it runs on: status, lag and metrics of its streams. */
  readonly runtime: ProjectionRuntime<undefined>;
  private readonly jobs = new Map<string, JobState>();
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private running: Promise<void> | undefined;
  private stopped = false;
  private nextOffset = 0;
  /** Jobs completed by this worker since it started. */
  completed = 0;
  failed = 0;
  cancelled = 0;
  current: string | undefined;
  /** Aborts the job running now. */
  private cancelCurrent: AbortController | undefined;

  constructor(private readonly options: JobWorkerOptions) {
    this.workerId = options.workerId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.topic = topicNames.jobs(options.project);
    this.name = options.groupId ?? `${options.project}.jobs-worker`;
    this.runtime = new ProjectionRuntime(this, { log: options.log, dlqTopic: topicNames.dlq(options.project) });
  }

  /** Every job the topic has seen, newest request last. */
  list(): JobState[] {
    return [...this.jobs.values()].sort((a, b) => a.offset - b.offset);
  }

  get(jobId: string): JobState | undefined {
    return this.jobs.get(jobId);
  }

  /** Asks for a job of this worker's project to be cancelled (see requestJobCancel). */
  cancel(jobId: string, options: CancelJobOptions = {}): Promise<JobState> {
    return requestJobCancel(this.options.log, this.options.project, jobId, options);
  }

  /** Requests a job of this worker's project on its topic (see submitJob): any worker may run it. */
  submit(spec: JobSpec, options: { jobId?: string; requestedBy?: string } = {}): Promise<SubmittedJob> {
    return submitJob(this.options.log, this.options.project, spec, options);
  }

  async start(): Promise<void> {
    await this.runtime.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.runtime.stop();
    await this.running;
  }

  // ---- the projection -----------------------------------------------------------------------

  streams(): Array<StreamSpec<undefined>> {
    return [{ key: 'jobs', topics: [this.topic], fingerprint: 'jobs', unit: undefined }];
  }

  groupId(): string {
    return this.name;
  }

  /**
   * Folds the topic to its end before following it: only then is it known which jobs are unfinished (a
   * request folded alone would run a job whose outcome comes later in the log).
   */
  async open(_spec: StreamSpec<undefined>, context: StreamContext): Promise<StreamRun<undefined>> {
    const { log } = this.options;
    await log.ensureTopic({ name: this.topic, partitions: 1, config: {} });
    const end = (await log.endOffsets(this.topic)).get(0) ?? 0;
    const poisoned: PoisonedRecord[] = [];
    if (end > this.nextOffset) {
      for await (const records of log.read(this.topic, 0, this.nextOffset, { untilOffset: end })) {
        poisoned.push(...this.fold(records));
      }
    }
    if (poisoned.length > 0) await context.deadLetter(poisoned);
    this.nextOffset = Math.max(this.nextOffset, end);
    for (const job of this.list()) if (!isJobEnded(job)) this.enqueue(job.jobId);
    return {
      startOffset: () => this.nextOffset,
      checkpoint: () => this.nextOffset,
      handle: async (batch) => {
        const refused = this.fold(batch.records);
        for (const record of batch.records) {
          const job = record.key ? this.jobs.get(record.key.toString('utf8')) : undefined;
          if (job !== undefined && job.status === 'requested' && job.offset === record.offset) this.enqueue(job.jobId);
        }
        return { poisoned: refused };
      },
      close: async () => undefined,
    };
  }

  /** Folds the records not folded yet; returns those that are not job events. */
  private fold(records: LogRecord[]): PoisonedRecord[] {
    const poisoned: PoisonedRecord[] = [];
    for (const record of records) {
      if (record.offset < this.nextOffset || record.value === null) continue;
      this.nextOffset = record.offset + 1;
      let event: JobEvent;
      try {
        event = decodeJobEvent(record.value);
      } catch (error) {
        // A malformed request cannot be run or answered (it names no usable job): an operator sees it in the DLQ.
        poisoned.push({
          record,
          error:
            error instanceof FeaturelogError
              ? error
              : new FeaturelogError('JOB_EVENT_UNREADABLE', error instanceof Error ? error.message : String(error)),
        });
        continue;
      }
      evolveJobs(this.jobs, event, record.offset);
      if (event.type === 'JobCancelRequested' && event.jobId === this.current) this.cancelCurrent?.abort();
    }
    return poisoned;
  }

  private enqueue(jobId: string): void {
    if (this.queued.has(jobId)) return;
    this.queued.add(jobId);
    this.queue.push(jobId);
    this.running ??= this.drain().finally(() => {
      this.running = undefined;
    });
  }

  private async drain(): Promise<void> {
    for (let jobId = this.queue.shift(); jobId !== undefined && !this.stopped; jobId = this.queue.shift()) {
      const job = this.jobs.get(jobId);
      if (job === undefined || isJobEnded(job)) continue;
      await this.run(job);
    }
  }

  private async run(job: JobState): Promise<void> {
    if (job.status === 'cancelling') {
      // Cancelled while a worker that is gone ran it: nothing runs it again; say it is over.
      await this.append({ type: 'JobCancelled', jobId: job.jobId, worker: this.workerId, at: Date.now() * 1000 });
      this.cancelled += 1;
      return;
    }
    const interval = this.options.progressIntervalMs ?? 500;
    let lastPhase = '';
    let lastAt = 0;
    /** The latest progress held back by the interval: published before the outcome, so progress ends where the job did. */
    let held: JobProgress | undefined;
    let publishing: Promise<unknown> = Promise.resolve();
    const publish = (event: JobEvent) => {
      publishing = publishing
        .then(() =>
          this.options.log.append(this.topic, [{ key: Buffer.from(job.jobId), value: encodeJobEvent(event) }]),
        )
        .catch(() => undefined);
      return publishing;
    };
    const progress = ({ phase, done, total }: JobProgress) => {
      const now = Date.now();
      if (phase === lastPhase && now - lastAt < interval) {
        held = { phase, done, total };
        return;
      }
      held = undefined;
      lastPhase = phase;
      lastAt = now;
      void publish({
        type: 'JobProgress',
        jobId: job.jobId,
        worker: this.workerId,
        phase,
        done,
        total,
        at: now * MICROS_PER_MILLI,
      });
    };
    const flushProgress = () => {
      if (held === undefined) return;
      lastAt = 0;
      progress(held);
    };
    const cancel = new AbortController();
    this.current = job.jobId;
    this.cancelCurrent = cancel;
    progress({ phase: 'started', done: 0, total: 1 });
    try {
      const result = await this.options.execute(job.spec, progress, cancel.signal);
      flushProgress();
      await publishing;
      await this.options.log.append(this.topic, [
        {
          key: Buffer.from(job.jobId),
          value: encodeJobEvent({
            type: 'JobFinished',
            jobId: job.jobId,
            worker: this.workerId,
            result,
            at: Date.now() * 1000,
          }),
        },
      ]);
      this.completed += 1;
    } catch (error) {
      flushProgress();
      await publishing;
      if (cancel.signal.aborted) {
        await this.append({ type: 'JobCancelled', jobId: job.jobId, worker: this.workerId, at: Date.now() * 1000 });
        this.cancelled += 1;
        return;
      }
      const known = error instanceof FeaturelogError;
      await this.options.log.append(this.topic, [
        {
          key: Buffer.from(job.jobId),
          value: encodeJobEvent({
            type: 'JobFailed',
            jobId: job.jobId,
            worker: this.workerId,
            code: known ? error.code : 'JOB_CRASHED',
            message: error instanceof Error ? error.message : String(error),
            retriable: known ? error.retriable : false,
            at: Date.now() * 1000,
          }),
        },
      ]);
      this.failed += 1;
    } finally {
      this.current = undefined;
      this.cancelCurrent = undefined;
    }
  }

  private async append(event: JobEvent): Promise<void> {
    await this.options.log.append(this.topic, [{ key: Buffer.from(event.jobId), value: encodeJobEvent(event) }]);
  }
}
