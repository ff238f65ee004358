import 'reflect-metadata';
import { topicNames } from '@featurelog/domain';
import { DeadLetterQueue, JobWorker, projectJobExecutor, type ExportOptions } from '@featurelog/jobs';
import type { SegmentEventDecoder } from '@featurelog/offline-store';
import { featurelogApp, type AppSettings } from '@featurelog/runtime';
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
export const jobsApp = featurelogApp<JobsAppSettings>({
  name: 'jobs',
  defaultPort: DEFAULT_JOBS_PORT,
  async start({ runtime, config, settings, nest }) {
    const { follower } = runtime.registry();
    let worker: JobWorker | undefined;
    const stopWork = async () => {
      await worker?.stop();
      await follower.stop();
    };
    try {
      await follower.start(`${config.project}.jobs.registry`);
      const execute = projectJobExecutor(runtime, follower, {
        exportOptions: { ...settings.exportOptions, decodeSegmentEvent: settings.decodeSegmentEvent },
        backfillOptions: { decodeSegmentEvent: settings.decodeSegmentEvent },
      });
      worker = new JobWorker({ log: runtime.log, project: config.project, execute, workerId: settings.workerId });
      await worker.start();
      const deadLetters = new DeadLetterQueue({
        log: runtime.log,
        project: config.project,
        schemas: runtime.schemas,
        registry: () => follower.caughtUpState(),
      });
      const jobsTopic = topicNames.jobs(config.project);
      const app = await nest(JobsAppModule.forParts({ worker, deadLetters, follower, log: runtime.log, jobsTopic }));
      return { app, stopWork };
    } catch (error) {
      await stopWork().catch(() => undefined);
      throw error;
    }
  },
});
