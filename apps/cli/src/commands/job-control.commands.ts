import type { Command } from 'commander';
import type { CommonOptions } from './job-control.actions';

const STATUSES = ['requested', 'running', 'cancelling', 'finished', 'failed', 'cancelled'] as const;
const DEFAULT_CANCEL_WAIT_SECONDS = '30';

/**
 * `featurelog jobs ls | show | cancel | wait`: the jobs of `<project>.jobs`, read from the topic itself
 * (the fold the jobs app keeps), so they work whether or not a jobs app runs, and through
 * `featurelog dev`'s log bridge.
 */
export function registerJobControlCommands(program: Command): void {
  const jobs = program.command('jobs').description('list, show, cancel and wait for export and backfill jobs');

  jobs
    .command('ls')
    .description('every job of the project, oldest request first')
    .option('--status <status>', `only jobs in this state: ${STATUSES.join(', ')}`)
    .option('--limit <n>', 'only the newest n jobs')
    .action(async (options: CommonOptions & { status?: string; limit?: string }) =>
      (await import('./job-control.actions')).jobsLs(options),
    );

  jobs
    .command('show')
    .description('one job: what it was asked to do, its progress, and its result, error or cancellation')
    .argument('<job-id>')
    .action(async (jobId: string, options: CommonOptions) =>
      (await import('./job-control.actions')).jobsShow(jobId, options),
    );

  jobs
    .command('cancel')
    .description(
      'cancel a job: one nobody has picked up never runs; a running one stops at its next stage and ' +
        'removes what it wrote. Waits for the worker to confirm unless --no-wait.',
    )
    .argument('<job-id>')
    .option('--reason <text>', 'recorded with the cancel request')
    .option('--no-wait', 'return once the request is on the log')
    .option('--wait-timeout <seconds>', 'how long to wait for the worker to confirm', DEFAULT_CANCEL_WAIT_SECONDS)
    .action(async (jobId: string, options: CommonOptions & { reason?: string; wait: boolean; waitTimeout: string }) =>
      (await import('./job-control.actions')).jobsCancel(jobId, options),
    );

  jobs
    .command('wait')
    .description('wait for a job to end; exit 0 when it finished, 1 with its error when it failed or was cancelled')
    .argument('<job-id>')
    .option('--timeout <seconds>', 'give up after this long (0 waits until it ends)', '0')
    .action(async (jobId: string, options: CommonOptions & { timeout: string }) =>
      (await import('./job-control.actions')).jobsWait(jobId, options),
    );
}
