import { Body, Controller, Get, HttpCode, Inject, Param, Post } from '@nestjs/common';
import { AuthorizedCaller, RequireScope, type Caller } from '@featurelog/auth';
import { FeaturelogError } from '@featurelog/domain';
import { parseExportRequest, type JobState, type JobWorker, type SubmittedJob } from '@featurelog/jobs';

export const JOB_WORKER = Symbol('featurelog:JobWorker');

interface CancelRequest {
  reason?: unknown;
  requestedBy?: unknown;
}

/**
 * `<project>.jobs` as this worker folded it; jobs are submitted through the topic. A cancel is an
 * event on the topic too (JobCancelRequested), so it reaches the worker running the job and any
 * worker that starts later. Every route needs the `jobs` scope: a job names the files it reads and
 * writes.
 */
@Controller('jobs')
@RequireScope('jobs')
export class JobsController {
  constructor(@Inject(JOB_WORKER) private readonly worker: JobWorker) {}

  @Get()
  list(): JobState[] {
    return this.worker.list();
  }

  /**
   * Submits an export, the request `featurelog export` submits (its paths on this server; a relative one
   * from this app's working directory): 202 with the job id, to follow at GET /jobs/:id. A malformed
   * request is a 400 naming the field; the rest (entity file, features) is checked by the job.
   */
  @Post('exports')
  @HttpCode(202)
  async submitExport(
    @Body() body: unknown,
    @AuthorizedCaller() caller: Caller | undefined,
  ): Promise<SubmittedJob & { status: 'requested' }> {
    const request = parseExportRequest(body, process.cwd());
    const submitted = await this.worker.submit(
      { kind: 'export', request },
      caller !== undefined ? { requestedBy: caller.name } : {},
    );
    return { ...submitted, status: 'requested' };
  }

  @Get(':id')
  get(@Param('id') id: string): JobState {
    const job = this.worker.get(id);
    if (job === undefined) throw new FeaturelogError('JOB_NOT_FOUND', `no job ${id} on the jobs topic`);
    return job;
  }

  /**
   * 202 with the job's state after the request: `cancelled` (nobody had started it; it never runs) or
   * `cancelling` (its worker stops it at its next stage). 404 for an unknown job, 409 with its state
   * for a job that has already ended.
   */
  @Post(':id/cancel')
  @HttpCode(202)
  cancel(
    @Param('id') id: string,
    @Body() body: CancelRequest | undefined,
    @AuthorizedCaller() caller: Caller | undefined,
  ): Promise<JobState> {
    const reason = body?.reason;
    const requestedBy = body?.requestedBy;
    for (const [name, value] of [
      ['reason', reason],
      ['requestedBy', requestedBy],
    ] as const) {
      if (value !== undefined && typeof value !== 'string') {
        throw new FeaturelogError('INVALID_REQUEST', `${name} must be a string`);
      }
    }
    return this.worker.cancel(id, {
      ...(typeof reason === 'string' ? { reason } : {}),
      // With keys configured the cancel is recorded under the key's name, not what the body claims.
      ...(caller !== undefined ? { requestedBy: caller.name } : typeof requestedBy === 'string' ? { requestedBy } : {}),
    });
  }
}
