// First: the libs' NestJS decorators record their metadata through it as their classes are defined.
import 'reflect-metadata';
import { FeaturelogError } from '@featurelog/domain';
import {
  isJobEnded,
  jobOutcome,
  readJob,
  readJobs,
  requestJobCancel,
  watchJob,
  type JobState,
  type JobStatus,
} from '@featurelog/jobs';
import { consoleOutput, isoMicros, table } from '../output';
import { loadConfig, withRuntime } from '../repo';
import type { ApiKeyOptions } from '../api-key';

export interface CommonOptions extends ApiKeyOptions {
  repo: string;
  json: boolean;
}

const STATUSES: readonly JobStatus[] = ['requested', 'running', 'cancelling', 'finished', 'failed', 'cancelled'];

function progressText(job: JobState): string {
  return job.progress === undefined ? '' : `${job.progress.phase} ${job.progress.done}/${job.progress.total}`;
}

function describeJob(job: JobState): string {
  const { requestedBy } = job;
  const lines = [
    `job ${job.jobId} (${job.spec.kind}): ${job.status}`,
    `  requested  ${isoMicros(job.requestedAt)}${requestedBy === undefined ? '' : ` by ${requestedBy}`} (offset ${job.offset})`,
    `  request    ${JSON.stringify(job.spec.request)}`,
  ];
  if (job.worker !== undefined) lines.push(`  worker     ${job.worker}`);
  if (job.progress !== undefined) lines.push(`  progress   ${progressText(job)} at ${isoMicros(job.progress.at)}`);
  if (job.cancel !== undefined) {
    const by = job.cancel.requestedBy === undefined ? '' : ` by ${job.cancel.requestedBy}`;
    const why = job.cancel.reason === undefined ? '' : `: ${job.cancel.reason}`;
    lines.push(`  cancel     requested ${isoMicros(job.cancel.requestedAt)}${by}${why}`);
  }
  if (job.endedAt !== undefined) lines.push(`  ended      ${isoMicros(job.endedAt)}`);
  if (job.error !== undefined) lines.push(`  error      ${job.error.code}: ${job.error.message}`);
  if (job.result !== undefined) lines.push(`  result     ${JSON.stringify(job.result)}`);
  return lines.join('\n');
}

function positiveInteger(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) {
    throw new FeaturelogError('INVALID_OPTION', `${name} must be a whole number >= 1, got ${text}`);
  }
  return value;
}

function nonNegativeNumber(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0) {
    throw new FeaturelogError('INVALID_OPTION', `${name} must be a number of seconds >= 0, got ${text}`);
  }
  return value;
}

export async function jobsLs(options: CommonOptions & { status?: string; limit?: string }): Promise<void> {
  if (options.status !== undefined && !(STATUSES as readonly string[]).includes(options.status)) {
    throw new FeaturelogError(
      'INVALID_OPTION',
      `--status must be one of ${STATUSES.join(', ')}, got ${options.status}`,
    );
  }
  const limit = options.limit === undefined ? undefined : positiveInteger('--limit', options.limit);
  const out = consoleOutput(options.json);
  const config = await loadConfig(options);
  let list = [...(await withRuntime(config, options, (runtime) => readJobs(runtime.log, config.project))).values()]
    .filter((job) => options.status === undefined || job.status === options.status)
    .sort((a, b) => a.offset - b.offset);
  if (limit !== undefined) list = list.slice(-limit);
  out.data(list);
  out.print(
    list.length === 0
      ? 'No jobs.'
      : table(
          ['job', 'kind', 'status', 'progress', 'requested', 'by', 'ended'],
          list.map((job) => [
            job.jobId,
            job.spec.kind,
            job.status,
            progressText(job),
            isoMicros(job.requestedAt),
            job.requestedBy ?? '',
            job.endedAt === undefined ? '' : isoMicros(job.endedAt),
          ]),
        ),
  );
}

export async function jobsShow(jobId: string, options: CommonOptions): Promise<void> {
  const out = consoleOutput(options.json);
  const config = await loadConfig(options);
  const job = await withRuntime(config, options, (runtime) => readJob(runtime.log, config.project, jobId));
  out.data(job);
  out.print(describeJob(job));
}

export async function jobsCancel(
  jobId: string,
  options: CommonOptions & { reason?: string; wait: boolean; waitTimeout: string },
): Promise<void> {
  const out = consoleOutput(options.json);
  const waitSeconds = nonNegativeNumber('--wait-timeout', options.waitTimeout);
  const config = await loadConfig(options);
  const job = await withRuntime(config, options, async (runtime) => {
    const requested = await requestJobCancel(runtime.log, config.project, jobId, {
      ...(process.env.USER ? { requestedBy: process.env.USER } : {}),
      ...(options.reason === undefined ? {} : { reason: options.reason }),
    });
    if (!options.wait || isJobEnded(requested)) return requested;
    return watchJob(runtime.log, config.project, jobId, { timeoutMs: waitSeconds * 1000 });
  });
  out.data(job);
  if (job.status === 'cancelled') out.print(`Job ${jobId} is cancelled.`);
  else if (job.status === 'cancelling') {
    out.print(
      `Cancel of job ${jobId} requested; its worker (${job.worker ?? 'unknown'}) has not confirmed yet. ` +
        `It stops at its next stage; a worker that starts later will not run it. ` +
        `See: featurelog jobs wait ${jobId}`,
    );
  } else out.print(`Job ${jobId} ${job.status} before its worker saw the cancel request.`);
}

export async function jobsWait(jobId: string, options: CommonOptions & { timeout: string }): Promise<void> {
  const out = consoleOutput(options.json);
  const timeoutSeconds = nonNegativeNumber('--timeout', options.timeout);
  const config = await loadConfig(options);
  const job = await withRuntime(config, options, (runtime) =>
    watchJob(runtime.log, config.project, jobId, {
      timeoutMs: timeoutSeconds * 1000,
      onEvent: (event, state) => {
        if (!options.json && event.type === 'JobProgress') process.stderr.write(`${progressText(state)}\n`);
      },
    }),
  );
  if (!isJobEnded(job)) {
    throw new FeaturelogError(
      'JOB_WAIT_TIMEOUT',
      `job ${jobId} is still ${job.status} after ${timeoutSeconds} s (${progressText(job) || 'no progress yet'})`,
      { retriable: true },
    );
  }
  jobOutcome(job); // throws the job's error when it failed or was cancelled
  out.data(job);
  out.print(describeJob(job));
}
