import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { guardedFastifyAdapter } from '@featurelog/auth';
import { topicNames } from '@featurelog/domain';
import {
  DeadLetterQueue,
  JobWorker,
  projectJobExecutor,
  type ExportOptions,
  type SegmentEventDecoder,
} from '@featurelog/jobs';
import { nestLoggerService } from '@featurelog/observability';
import {
  appKeys,
  appLogger,
  listenAddress,
  listenNestApp,
  type AppSettings,
  type FeaturelogApp,
  type ProjectRuntime,
  type RunningApp,
} from '@featurelog/runtime';
import { JobsAppModule } from './jobs.module';

export const DEFAULT_JOBS_PORT = 6573;

export interface JobsAppSettings extends AppSettings {
  /** Names this process in job events; default host:pid:random. */
  workerId?: string;
  /** Memory bounds of exports. */
  exportOptions?: Pick<ExportOptions, 'entityRowsInMemory' | 'tailRowsInMemory'>;
  /** How `<project>.segments` records decode (the compactor's encoding). */
  decodeSegmentEvent?: SegmentEventDecoder;
}

/**
 * The jobs app: runs the export and backfill jobs requested on `<project>.jobs` (see JobWorker), with
 * progress and outcomes published there, and serves /jobs (list, show, cancel), /dlq (the dead letters:
 * list, show, redrive), /health and /metrics. Closing it lets the running job finish first.
 */
export const jobsApp: FeaturelogApp<JobsAppSettings> = {
  name: 'jobs',
  defaultPort: DEFAULT_JOBS_PORT,
  async create(runtime: ProjectRuntime, settings: JobsAppSettings = {}): Promise<RunningApp> {
    const { config } = runtime;
    // Before anything opens: a key that cannot be checked stops the app here.
    const auth = appKeys(config, settings);
    const { follower } = runtime.registry();
    let worker: JobWorker | undefined;
    const stop = async () => {
      await worker?.stop();
      await follower.stop();
    };
    try {
      await follower.start(`${config.project}.jobs.registry`);
      const execute = projectJobExecutor(
        {
          project: config.project,
          offlineRoot: config.offlineStore.path,
          log: runtime.log,
          schemas: runtime.schemas,
          onlineStore: () => runtime.onlineStore(),
        },
        follower,
        {
          exportOptions: { ...settings.exportOptions, decodeSegmentEvent: settings.decodeSegmentEvent },
          backfillOptions: { decodeSegmentEvent: settings.decodeSegmentEvent },
        },
      );
      worker = new JobWorker({ log: runtime.log, project: config.project, execute, workerId: settings.workerId });
      await worker.start();
      const deadLetters = new DeadLetterQueue({
        log: runtime.log,
        project: config.project,
        schemas: runtime.schemas,
        registry: () => follower.caughtUpState(),
      });
      const app = await NestFactory.create<NestFastifyApplication>(
        JobsAppModule.forParts({
          worker,
          deadLetters,
          follower,
          log: runtime.log,
          jobsTopic: topicNames.jobs(config.project),
        }),
        guardedFastifyAdapter(auth),
        { logger: nestLoggerService(appLogger(settings)) },
      );
      return await listenNestApp('jobs', app, listenAddress(jobsApp, runtime, settings), { stopWork: stop });
    } catch (error) {
      await stop().catch(() => undefined);
      throw error;
    }
  },
};
