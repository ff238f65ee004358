import { randomUUID } from 'node:crypto';
import { FeaturelogError, topicNames } from '@featurelog/domain';
import type { EventLog } from '@featurelog/log';
import { decodeJobEvent, encodeJobEvent, type JobEvent, type JobSpec } from './job-events';

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

export interface FollowJobOptions {
  onEvent?: (event: JobEvent) => void;
  /** Fail with JOB_NOT_PICKED_UP when no worker reports on the job this soon; 0 waits forever. */
  pickupTimeoutMs?: number;
}

/**
 * Follows the job's events from its request until its outcome: resolves with the JobFinished result,
 * rejects with the job's own error code and message when it failed.
 */
export async function followJob(
  log: EventLog,
  project: string,
  job: SubmittedJob,
  { onEvent, pickupTimeoutMs = 30_000 }: FollowJobOptions = {},
): Promise<unknown> {
  const topic = topicNames.jobs(project);
  // A group-less tail: a short-lived watcher leaves no consumer group behind, and it works through
  // `featurelog dev`'s log bridge, which has no consumer groups.
  const stop = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    if (pickupTimeoutMs > 0) {
      timer = setTimeout(() => {
        reject(
          new FeaturelogError(
            'JOB_NOT_PICKED_UP',
            `no jobs app reported on job ${job.jobId} within ${pickupTimeoutMs} ms; start one (featurelog dev, or apps/jobs) or run with --local`,
            { retriable: true },
          ),
        );
      }, pickupTimeoutMs);
    }
  });
  const outcome = (async () => {
    for await (const records of log.follow(topic, 0, job.offset, { signal: stop.signal })) {
      for (const record of records) {
        if (record.key?.toString('utf8') !== job.jobId || record.value === null) continue;
        const event = decodeJobEvent(record.value);
        if (event.type !== 'JobRequested') clearTimeout(timer);
        onEvent?.(event);
        if (event.type === 'JobFinished') return event.result;
        if (event.type === 'JobFailed') {
          throw new FeaturelogError(event.code, event.message, { retriable: event.retriable });
        }
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
