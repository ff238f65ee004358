import { FeaturelogError } from '@featurelog/domain';
import type { BackfillRequest } from './backfill-view';
import type { ExportRequest } from './export-plan';

/**
 * Events of `<project>.jobs` (one partition, keyed by job id), encoded as JSON: jobs are operator
 * traffic — few, small, read by people and scripts — so a schema registry would buy nothing here.
 * Timestamps are epoch microseconds, UTC.
 */
export type JobSpec = { kind: 'export'; request: ExportRequest } | { kind: 'backfill'; request: BackfillRequest };

export type JobEvent =
  | { type: 'JobRequested'; jobId: string; spec: JobSpec; requestedAt: number; requestedBy?: string }
  | { type: 'JobProgress'; jobId: string; worker: string; phase: string; done: number; total: number; at: number }
  | { type: 'JobFinished'; jobId: string; worker: string; result: unknown; at: number }
  | { type: 'JobFailed'; jobId: string; worker: string; code: string; message: string; retriable: boolean; at: number }
  /** Someone asked to stop the job (see evolveJobs for what it does to the job's state). */
  | { type: 'JobCancelRequested'; jobId: string; at: number; requestedBy?: string; reason?: string }
  /** The worker stopped the job (or skipped it) because of a cancel request, and removed what it had written. */
  | { type: 'JobCancelled'; jobId: string; worker: string; at: number };

const TYPES = new Set([
  'JobRequested',
  'JobProgress',
  'JobFinished',
  'JobFailed',
  'JobCancelRequested',
  'JobCancelled',
]);

export function encodeJobEvent(event: JobEvent): Buffer {
  return Buffer.from(JSON.stringify(event));
}

/** Throws JOB_EVENT_MALFORMED naming what is wrong. */
export function decodeJobEvent(value: Buffer): JobEvent {
  let event: unknown;
  try {
    event = JSON.parse(value.toString('utf8'));
  } catch (error) {
    throw new FeaturelogError('JOB_EVENT_MALFORMED', `job event is not JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const candidate = event as Partial<JobEvent> | null;
  if (typeof candidate !== 'object' || candidate === null || !TYPES.has(String(candidate.type))) {
    throw new FeaturelogError(
      'JOB_EVENT_MALFORMED',
      `job event has no known type: ${value.toString('utf8').slice(0, 200)}`,
    );
  }
  if (typeof candidate.jobId !== 'string' || candidate.jobId === '') {
    throw new FeaturelogError('JOB_EVENT_MALFORMED', `${String(candidate.type)} event has no jobId`);
  }
  if (candidate.type === 'JobRequested') {
    const spec = (candidate as { spec?: { kind?: unknown } }).spec;
    if (spec?.kind !== 'export' && spec?.kind !== 'backfill') {
      throw new FeaturelogError('JOB_EVENT_MALFORMED', `job ${candidate.jobId} asks for an unknown kind of job`);
    }
  }
  return candidate as JobEvent;
}

/**
 * `requested` until a worker reports; `running` while it does; `cancelling` once a cancel of a running
 * job is asked for, until the worker confirms. `finished`, `failed` and `cancelled` are final.
 */
export type JobStatus = 'requested' | 'running' | 'cancelling' | 'finished' | 'failed' | 'cancelled';

export const FINAL_JOB_STATUSES: ReadonlySet<JobStatus> = new Set(['finished', 'failed', 'cancelled']);

export function isJobEnded(job: Pick<JobState, 'status'>): boolean {
  return FINAL_JOB_STATUSES.has(job.status);
}

export interface JobState {
  jobId: string;
  spec: JobSpec;
  status: JobStatus;
  requestedAt: number;
  requestedBy?: string;
  /** Offset of the JobRequested event. */
  offset: number;
  progress?: { phase: string; done: number; total: number; at: number };
  worker?: string;
  result?: unknown;
  error?: { code: string; message: string; retriable: boolean };
  /** The first cancel request. */
  cancel?: { requestedAt: number; requestedBy?: string; reason?: string };
  endedAt?: number;
}

/**
 * The fold of the jobs topic: one state per job. Progress or an outcome for a job never requested is
 * ignored, and nothing follows a job's outcome: the first JobFinished, JobFailed or JobCancelled is final.
 *
 * A cancel request of a job no worker has reported on yet cancels it there and then: the log says
 * nobody started it, so a worker that picks it up later (it folds the topic first) never runs it, and
 * one that started it in the same instant sees the request in its fold and stops. A cancel request
 * of a running job makes it `cancelling` until its worker reports `JobCancelled` — or its outcome,
 * when the job ended before the worker saw the request.
 */
export function evolveJobs(jobs: Map<string, JobState>, event: JobEvent, offset: number): void {
  const job = jobs.get(event.jobId);
  if (event.type === 'JobRequested') {
    if (job === undefined) {
      jobs.set(event.jobId, {
        jobId: event.jobId,
        spec: event.spec,
        status: 'requested',
        requestedAt: event.requestedAt,
        ...(event.requestedBy === undefined ? {} : { requestedBy: event.requestedBy }),
        offset,
      });
    }
    return;
  }
  if (job === undefined || isJobEnded(job)) return;
  if (event.type === 'JobCancelRequested') {
    if (job.cancel !== undefined) return;
    job.cancel = { requestedAt: event.at };
    if (event.requestedBy !== undefined) job.cancel.requestedBy = event.requestedBy;
    if (event.reason !== undefined) job.cancel.reason = event.reason;
    if (job.status === 'requested') {
      job.status = 'cancelled';
      job.endedAt = event.at;
    } else {
      job.status = 'cancelling';
    }
    return;
  }
  job.worker = event.worker;
  switch (event.type) {
    case 'JobProgress':
      if (job.status === 'requested') job.status = 'running';
      job.progress = { phase: event.phase, done: event.done, total: event.total, at: event.at };
      return;
    case 'JobCancelled':
      job.status = 'cancelled';
      job.endedAt = event.at;
      return;
    case 'JobFinished':
      job.status = 'finished';
      job.result = event.result;
      job.endedAt = event.at;
      return;
    case 'JobFailed':
      job.status = 'failed';
      job.error = { code: event.code, message: event.message, retriable: event.retriable };
      job.endedAt = event.at;
      return;
  }
}
