import 'reflect-metadata';
import { dirname, join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import { declareAccessUnder } from '@featurelog/auth';
import { FeaturelogError, topicNames } from '@featurelog/domain';
import {
  DeadLetterQueue,
  JOBS_DOCUMENTED_ROUTES,
  JOBS_OPENAPI_DOCUMENT,
  JobWorker,
  projectJobExecutor,
  TrainingSets,
  type ExportOptions,
} from '@featurelog/jobs';
import type { SegmentEventDecoder } from '@featurelog/offline-store';
import { featurelogApp, type AppSettings } from '@featurelog/runtime';
import { JobsAppModule } from './jobs.module';
import { BINARY_ENTITY_TYPES } from './training-sets.controller';

export const DEFAULT_JOBS_PORT = 6573;

export interface JobsAppSettings extends AppSettings {
  /** Names this process in job events; default host:pid:random. */
  workerId?: string;
  /** Memory bounds of exports, and the rows per row group of what they write. */
  exportOptions?: Pick<ExportOptions, 'entityRowsInMemory' | 'tailRowsInMemory' | 'rowGroupSize'>;
  /** POST /training-sets: where uploads and results are written, and the most bytes of an upload. */
  trainingSets?: {
    /** Default: `training-sets` beside the offline store (`offlineStore.path`'s parent). */
    directory?: string;
    /** Default 4 GiB (DEFAULT_TRAINING_SET_UPLOAD_LIMIT). */
    uploadLimit?: number;
  };
  /** How `<project>.segments` records decode (the compactor's encoding). */
  decodeSegmentEvent?: SegmentEventDecoder;
}

/** Largest JSON body (POST /training-sets with JSON entity rows among them); binary uploads have their own limit. */
const JSON_BODY_LIMIT = 16 * 1024 * 1024;

/**
 * The jobs app: runs the export and backfill jobs requested on `<project>.jobs` (see JobWorker), with
 * progress and outcomes published there, and serves /jobs (list, show, cancel), /training-sets (entity
 * rows in, the training set out as Arrow IPC or Parquet), /dlq (the dead letters: list, show, redrive),
 * /docs, /health and /metrics. Closing it lets the running job finish first.
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
      const jobs = worker;
      const trainingSets = new TrainingSets({
        project: config.project,
        directory: settings.trainingSets?.directory ?? join(dirname(runtime.offlineRoot), 'training-sets'),
        definitions: async () => {
          await follower.catchUp();
          follower.assertComplete();
          return follower.state;
        },
        jobs: { submit: (spec, options) => jobs.submit(spec, options), get: (id) => jobs.get(id) },
        ...(settings.trainingSets?.uploadLimit === undefined ? {} : { uploadLimit: settings.trainingSets.uploadLimit }),
      });
      const app = await nest(
        JobsAppModule.forParts({ worker, deadLetters, trainingSets, follower, log: runtime.log, jobsTopic }),
        { bodyLimit: JSON_BODY_LIMIT },
      );
      const fastify = app.getHttpAdapter().getInstance() as FastifyLike;
      // Arrow and Parquet bodies reach POST /training-sets unread, as the request stream: TrainingSets
      // streams them to a file under its own limit, so a large upload is never held in memory.
      fastify.addContentTypeParser(BINARY_ENTITY_TYPES, (_request, payload, done) => done(null, payload));
      // Any other type reaches POST /training-sets too, which refuses it naming the types it takes; the
      // other routes refuse it here as Fastify would, but saying what they take.
      fastify.addContentTypeParser('*', (request, payload, done) => {
        if (request.url === '/training-sets' || request.url.startsWith('/training-sets?')) done(null, payload);
        else {
          done(
            new FeaturelogError(
              'UNSUPPORTED_MEDIA_TYPE',
              `Content-Type ${String(request.headers['content-type'])} is not accepted: send application/json`,
            ),
          );
        }
      });
      await (app as NestFastifyApplication).register(fastifySwagger as never, {
        openapi: JOBS_OPENAPI_DOCUMENT,
        transform: ({
          schema,
          url,
          route,
        }: {
          schema: Record<string, unknown> | undefined;
          url: string;
          route: { method: string | string[] };
        }) => ({
          schema: { ...schema, ...JOBS_DOCUMENTED_ROUTES[`${String(route.method)} ${url}`] },
          url,
        }),
      });
      // The docs describe routes that all need the jobs scope.
      declareAccessUnder(fastify as never, '/docs', 'jobs');
      await (app as NestFastifyApplication).register(fastifySwaggerUi as never, { routePrefix: '/docs' });
      return { app, stopWork };
    } catch (error) {
      await stopWork().catch(() => undefined);
      throw error;
    }
  },
});

/** The slice of Nest's Fastify instance the app adds to (Nest's adapter brings its own copy of Fastify's types). */
interface FastifyLike {
  addContentTypeParser(
    types: string | string[],
    parser: (
      request: { url: string; headers: Record<string, string | string[] | undefined> },
      payload: unknown,
      done: (error: Error | null, body?: unknown) => void,
    ) => void,
  ): void;
}
