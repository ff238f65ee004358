import 'reflect-metadata';

import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ShutdownHookModule } from '@featurelog/observability';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { ApiKeyVerifier, guardedFastifyAdapter, type ApiKeysConfig } from '@featurelog/auth';
import { appListenAddress, uiBrowserOrigins, type ProjectConfig } from '@featurelog/config';
import { topicNames } from '@featurelog/domain';
import {
  DeadLetterQueue,
  JobWorker,
  projectJobExecutor,
  type ExportOptions,
  type SegmentEventDecoder,
} from '@featurelog/jobs';
import { ProjectRuntime, runAppMain } from '@featurelog/runtime';
import { JobsAppModule } from './jobs.module';

export const DEFAULT_JOBS_PORT = 6573;

export interface JobsAppOptions {
  config: ProjectConfig;
  port?: number;
  host?: string;
  /** Names this process in job events; default host:pid:random. */
  workerId?: string;
  /** Memory bounds of exports. */
  exportOptions?: Pick<ExportOptions, 'entityRowsInMemory' | 'tailRowsInMemory'>;
  /** How `<project>.segments` records decode (the compactor's encoding). */
  decodeSegmentEvent?: SegmentEventDecoder;
  /** Overrides `serving.apiKeys` of featurelog.yaml (`{}`: no authentication, for local use). */
  auth?: ApiKeysConfig;
  /** Nest's own log lines; `featurelog dev` passes false. */
  logger?: false | Array<'error' | 'warn' | 'log'>;
}

/** The app and what it owns beyond Nest, released on close. */
@Module({})
class JobsAppRoot {}

/**
 * The jobs app: runs the export and backfill jobs requested on `<project>.jobs` (see JobWorker), with
 * progress and outcomes published there, and serves /jobs (list, show, cancel), /dlq (the dead letters:
 * list, show, redrive), /health and /metrics. Runs standalone
 * (main) or in-process (`featurelog dev`); closing the app lets the running job finish, then closes the ports.
 */
export async function startJobs(options: JobsAppOptions): Promise<NestFastifyApplication> {
  const { config } = options;
  // Before anything opens: a key that cannot be checked stops the app here.
  const auth = new ApiKeyVerifier(
    options.auth ?? { apiKeys: config.serving?.apiKeys ?? [], browserOrigins: uiBrowserOrigins(config.apps) },
  );
  const runtime = await ProjectRuntime.open(config);
  try {
    const { follower } = runtime.registry();
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
        exportOptions: { ...options.exportOptions, decodeSegmentEvent: options.decodeSegmentEvent },
        backfillOptions: { decodeSegmentEvent: options.decodeSegmentEvent },
      },
    );
    const worker = new JobWorker({ log: runtime.log, project: config.project, execute, workerId: options.workerId });
    await worker.start();
    const deadLetters = new DeadLetterQueue({
      log: runtime.log,
      project: config.project,
      schemas: runtime.schemas,
      registry: () => follower.caughtUpState(),
    });
    const app = await NestFactory.create<NestFastifyApplication>(
      {
        module: JobsAppRoot,
        imports: [
          JobsAppModule.forParts({
            worker,
            deadLetters,
            follower,
            log: runtime.log,
            jobsTopic: topicNames.jobs(config.project),
          }),
          ShutdownHookModule.onShutdown(async () => {
            await worker.stop();
            await follower.stop();
            await runtime.close();
          }),
        ],
      },
      guardedFastifyAdapter(auth),
      { logger: options.logger ?? ['error', 'warn', 'log'] },
    );
    app.enableShutdownHooks();
    const listen = appListenAddress(config.apps, 'jobs', DEFAULT_JOBS_PORT, {});
    await app.listen(options.port ?? listen.port, options.host ?? listen.host);
    return app;
  } catch (error) {
    await runtime.close();
    throw error;
  }
}

if (require.main === module) {
  runAppMain(
    'jobs',
    (config) => startJobs({ config, ...appListenAddress(config.apps, 'jobs', DEFAULT_JOBS_PORT) }),
    async (app) => `listening on ${await app.getUrl()}`,
  );
}
