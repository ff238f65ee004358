import { Controller, Get, Inject, Param } from '@nestjs/common';
import { RequireScope } from '@featurelog/auth';
import { FeaturelogError } from '@featurelog/domain';
import type { JobState, JobWorker } from '@featurelog/jobs';

export const JOB_WORKER = Symbol('featurelog:JobWorker');

/**
 * Read-only view of `<project>.jobs` as this worker folded it; jobs are submitted through the topic.
 * Every route needs the `jobs` scope: a job names the files it reads and writes.
 */
@Controller('jobs')
@RequireScope('jobs')
export class JobsController {
  constructor(@Inject(JOB_WORKER) private readonly worker: JobWorker) {}

  @Get()
  list(): JobState[] {
    return this.worker.list();
  }

  @Get(':id')
  get(@Param('id') id: string): JobState {
    const job = this.worker.get(id);
    if (job === undefined) throw new FeaturelogError('JOB_NOT_FOUND', `no job ${id} on the jobs topic`);
    return job;
  }
}
