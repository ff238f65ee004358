import { randomUUID } from 'node:crypto';
import { FeaturelogError, topicNames } from '@featurelog/domain';
import type { EventLog } from '@featurelog/log';
import { JOB_CANCELLED } from './job-cancellation';
import {
  decodeJobEvent,
  encodeJobEvent,
  evolveJobs,
  isJobEnded,
  type JobEvent,
  type JobSpec,
  type JobState,
} from './job-events';

export interface SubmittedJob {
  jobId: string;
  /** Offset of the JobRequested event on `<project>.jobs`. */
  offset: number;
}

/** Appends a JobRequested event; the jobs app picks it up. */
export async function submitJob(
  log: EventLog,
  project: string,
  spec: JobSpec,
  { jobId = randomUUID(), requestedBy }: { jobId?: string; requestedBy?: string } = {},
): Promise<SubmittedJob> {
  const topic = topicNames.jobs(project);
  await log.ensureTopic({ name: topic, partitions: 1, config: {} });
  const event: JobEvent = { type: 'JobRequested', jobId, spec, requestedAt: Date.now() * 1000 };
  if (requestedBy !== undefined) event.requestedBy = requestedBy;
  const [position] = await log.append(topic, [{ key: Buffer.from(jobId), value: encodeJobEvent(event) }]);
  return { jobId, offset: position!.offset };
}

/**
 * Every job of `<project>.jobs` as the topic holds it now (or below `untilOffset`): the same fold the
 * jobs app keeps, read without a consumer group, so it works without the jobs app and through
 * `featurelog dev`'s log bridge. Malformed events are skipped, as the worker skips them.
 */
export async function readJobs(
  log: EventLog,
  project: string,
  { untilOffset }: { untilOffset?: number } = {},
): Promise<Map<string, JobState>> {
  const topic = topicNames.jobs(project);
  const jobs = new Map<string, JobState>();
  if ((await log.describeTopic(topic)) === undefined) return jobs;
  const end = untilOffset ?? (await log.endOffsets(topic)).get(0) ?? 0;
  if (end === 0) return jobs;
  for await (const records of log.read(topic, 0, 0, { untilOffset: end })) {
    for (const record of records) {
      if (record.value === null) continue;
      let event: JobEvent;
      try {
        event = decodeJobEvent(record.value);
      } catch {
        continue;
      }
      evolveJobs(jobs, event, record.offset);
    }
  }
  return jobs;
}

/** One job as the topic holds it now; throws JOB_NOT_FOUND. */
export async function readJob(log: EventLog, project: string, jobId: string): Promise<JobState> {
  const job = (await readJobs(log, project)).get(jobId);
  if (job === undefined) throw jobNotFound(project, jobId);
  return job;
}

export interface CancelJobOptions {
  requestedBy?: string;
  reason?: string;
}

/**
 * Asks for the job to be cancelled (a JobCancelRequested event) and returns its state right after the
 * request: `cancelled` when no worker had reported on it (it will never run), `cancelling` when one
 * runs it (it stops at its next stage and reports JobCancelled). Throws JOB_NOT_FOUND for an unknown
 * job and JOB_NOT_CANCELLABLE, naming its state, for a job that has already ended.
 */
export async function requestJobCancel(
  log: EventLog,
  project: string,
  jobId: string,
  { requestedBy, reason }: CancelJobOptions = {},
): Promise<JobState> {
  const job = await readJob(log, project, jobId);
  if (isJobEnded(job)) throw notCancellable(job);
  const offset = await appendCancelRequest(log, project, jobId, { requestedBy, reason });
  // Folded up to the request itself: what it did, even if the job ended in the meantime.
  const after = (await readJobs(log, project, { untilOffset: offset + 1 })).get(jobId)!;
  if (after.cancel?.requestedAt === undefined || (isJobEnded(after) && after.status !== 'cancelled')) {
    throw notCancellable(after);
  }
  return after;
}

async function appendCancelRequest(
  log: EventLog,
  project: string,
  jobId: string,
  { requestedBy, reason }: CancelJobOptions,
): Promise<number> {
  const event: JobEvent = { type: 'JobCancelRequested', jobId, at: Date.now() * 1000 };
  if (requestedBy !== undefined) event.requestedBy = requestedBy;
  if (reason !== undefined) event.reason = reason;
  const [position] = await log.append(topicNames.jobs(project), [
    { key: Buffer.from(jobId), value: encodeJobEvent(event) },
  ]);
  return position!.offset;
}

function notCancellable(job: JobState): FeaturelogError {
  const when = job.endedAt === undefined ? '' : ` at ${new Date(Math.floor(job.endedAt / 1000)).toISOString()}`;
  return new FeaturelogError(
    'JOB_NOT_CANCELLABLE',
    `job ${job.jobId} has already ended: it is ${job.status}${when}; only a requested or running job can be cancelled`,
  );
}

function jobNotFound(project: string, jobId: string): FeaturelogError {
  return new FeaturelogError('JOB_NOT_FOUND', `no job ${jobId} on ${topicNames.jobs(project)}`);
}

export interface WatchJobOptions {
  /** Stop watching (and resolve with the state then) after this long; 0 watches until the job ends. */
  timeoutMs?: number;
  onEvent?: (event: JobEvent, state: JobState) => void;
}

/**
 * Follows the job until it has ended (finished, failed or cancelled) or the timeout passes, and
 * returns its state then. Throws JOB_NOT_FOUND for a job the topic does not hold.
 */
export async function watchJob(
  log: EventLog,
  project: string,
  jobId: string,
  { timeoutMs = 0, onEvent }: WatchJobOptions = {},
): Promise<JobState> {
  const topic = topicNames.jobs(project);
  const current = await readJob(log, project, jobId);
  if (isJobEnded(current)) return current;
  const jobs = new Map<string, JobState>();
  const stop = new AbortController();
  const timer = timeoutMs > 0 ? setTimeout(() => stop.abort(), timeoutMs) : undefined;
  try {
    for await (const records of log.follow(topic, 0, current.offset, { signal: stop.signal })) {
      for (const record of records) {
        if (record.key?.toString('utf8') !== jobId || record.value === null) continue;
        const event = decodeJobEvent(record.value);
        evolveJobs(jobs, event, record.offset);
        const state = jobs.get(jobId);
        if (state === undefined) continue;
        onEvent?.(event, state);
        if (isJobEnded(state)) return state;
      }
    }
    return jobs.get(jobId) ?? current;
  } finally {
    clearTimeout(timer);
    stop.abort();
  }
}

export interface FollowJobOptions {
  onEvent?: (event: JobEvent) => void;
  /**
   * When no worker reports on the job this soon, cancel it (so it never runs later, when a jobs app
   * next starts) and fail with JOB_NOT_PICKED_UP; 0 waits forever.
   */
  pickupTimeoutMs?: number;
  /** Recorded in the cancel request of a job nobody picked up. */
  requestedBy?: string;
}

/**
 * Follows the job's events from its request until its outcome: resolves with the JobFinished result,
 * rejects with the job's own error code and message when it failed, with JOB_CANCELLED when it was
 * cancelled.
 */
export async function followJob(
  log: EventLog,
  project: string,
  job: SubmittedJob,
  { onEvent, pickupTimeoutMs = 30_000, requestedBy }: FollowJobOptions = {},
): Promise<unknown> {
  const topic = topicNames.jobs(project);
  // A group-less tail: a short-lived watcher leaves no consumer group behind, and it works through
  // `featurelog dev`'s log bridge, which has no consumer groups.
  const stop = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  /** Set once the pickup timeout has cancelled the job: its outcome is then the timeout's error. */
  let gaveUp = false;
  const timedOut = new Promise<never>((_, reject) => {
    if (pickupTimeoutMs > 0) {
      timer = setTimeout(() => {
        gaveUp = true;
        const reason = `no jobs app picked it up within ${pickupTimeoutMs} ms`;
        appendCancelRequest(log, project, job.jobId, { reason, ...(requestedBy ? { requestedBy } : {}) }).then(
          () =>
            reject(
              new FeaturelogError(
                'JOB_NOT_PICKED_UP',
                `no jobs app reported on job ${job.jobId} within ${pickupTimeoutMs} ms, so it was cancelled and will not run later; ` +
                  'start one (featurelog dev, or apps/jobs) and submit again, or run with --local',
                { retriable: true },
              ),
            ),
          (error: unknown) =>
            reject(
              new FeaturelogError(
                'JOB_NOT_PICKED_UP',
                `no jobs app reported on job ${job.jobId} within ${pickupTimeoutMs} ms, and cancelling it failed ` +
                  `(${error instanceof Error ? error.message : String(error)}): it may still run when a jobs app starts; ` +
                  `cancel it with: featurelog jobs cancel ${job.jobId}`,
                { retriable: true, cause: error },
              ),
            ),
        );
      }, pickupTimeoutMs);
    }
  });
  const outcome = (async () => {
    const jobs = new Map<string, JobState>();
    for await (const records of log.follow(topic, 0, job.offset, { signal: stop.signal })) {
      for (const record of records) {
        if (record.key?.toString('utf8') !== job.jobId || record.value === null) continue;
        const event = decodeJobEvent(record.value);
        evolveJobs(jobs, event, record.offset);
        if (event.type !== 'JobRequested' && event.type !== 'JobCancelRequested') clearTimeout(timer);
        onEvent?.(event);
        const state = jobs.get(job.jobId);
        if (state === undefined || !isJobEnded(state) || gaveUp) continue;
        return jobOutcome(state);
      }
    }
    throw new FeaturelogError('JOB_FOLLOW_ENDED', `stopped following job ${job.jobId} before its outcome`);
  })();
  try {
    return await Promise.race([outcome, timedOut]);
  } finally {
    clearTimeout(timer);
    stop.abort();
    await outcome.catch(() => undefined);
  }
}

/** An ended job's result, or its error as the caller should see it. */
export function jobOutcome(job: JobState): unknown {
  if (job.status === 'finished') return job.result;
  if (job.status === 'failed') {
    throw new FeaturelogError(job.error!.code, job.error!.message, { retriable: job.error!.retriable });
  }
  if (job.status === 'cancelled') {
    const by = job.cancel?.requestedBy === undefined ? '' : ` by ${job.cancel.requestedBy}`;
    const why = job.cancel?.reason === undefined ? '' : ` (${job.cancel.reason})`;
    throw new FeaturelogError(JOB_CANCELLED, `job ${job.jobId} was cancelled${by}${why}`);
  }
  throw new FeaturelogError('JOB_NOT_ENDED', `job ${job.jobId} is still ${job.status}`, { retriable: true });
}
