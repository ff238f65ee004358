import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { createMetricsRegistry, FeaturelogExceptionFilter, ObservabilityModule } from '@featurelog/observability';
import { isJobEnded, type DeadLetterQueue, type JobWorker, type TrainingSets } from '@featurelog/jobs';
import type { EventLog } from '@featurelog/log';
import type { RegistryFollower } from '@featurelog/registry';
import { Gauge } from 'prom-client';
import { JOB_WORKER, JobsController } from './jobs.controller';
import { DEAD_LETTER_QUEUE, DlqController } from './dlq.controller';
import { TRAINING_SETS, TrainingSetsController } from './training-sets.controller';
import { ProjectionMetrics } from '@featurelog/projection';

export interface JobsAppParts {
  worker: JobWorker;
  deadLetters: DeadLetterQueue;
  trainingSets: TrainingSets;
  follower: RegistryFollower;
  log: EventLog;
  jobsTopic: string;
}

@Module({})
export class JobsAppModule {
  static forParts(parts: JobsAppParts): DynamicModule {
    const metrics = createMetricsRegistry('jobs');
    const { worker } = parts;
    new ProjectionMetrics(metrics).attach(worker.runtime);
    new Gauge({
      name: 'featurelog_jobs_completed',
      help: 'Jobs this process finished since it started',
      registers: [metrics],
      collect() {
        this.set(worker.completed);
      },
    });
    new Gauge({
      name: 'featurelog_jobs_failed',
      help: 'Jobs this process failed since it started',
      registers: [metrics],
      collect() {
        this.set(worker.failed);
      },
    });
    new Gauge({
      name: 'featurelog_jobs_cancelled',
      help: 'Jobs this process stopped or skipped because they were cancelled, since it started',
      registers: [metrics],
      collect() {
        this.set(worker.cancelled);
      },
    });
    new Gauge({
      name: 'featurelog_jobs_running',
      help: '1 while a job runs',
      registers: [metrics],
      collect() {
        this.set(worker.current === undefined ? 0 : 1);
      },
    });
    new Gauge({
      name: 'featurelog_jobs_waiting',
      help: 'Jobs requested and not yet ended (the one running included)',
      registers: [metrics],
      collect() {
        this.set(worker.list().filter((job) => !isJobEnded(job)).length);
      },
    });
    return {
      module: JobsAppModule,
      imports: [
        ObservabilityModule.forRoot({
          metrics,
          checks: {
            useFactory: () => [
              { name: 'log', check: async () => void (await parts.log.endOffsets(parts.jobsTopic)) },
              { name: 'registry', check: () => parts.follower.catchUp() },
            ],
          },
        }),
      ],
      controllers: [JobsController, DlqController, TrainingSetsController],
      providers: [
        { provide: JOB_WORKER, useValue: worker },
        { provide: DEAD_LETTER_QUEUE, useValue: parts.deadLetters },
        { provide: TRAINING_SETS, useValue: parts.trainingSets },
        { provide: APP_FILTER, useClass: FeaturelogExceptionFilter },
      ],
    };
  }
}
