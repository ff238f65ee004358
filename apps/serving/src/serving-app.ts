import 'reflect-metadata';
import { hostname } from 'node:os';
import {
  type BeforeApplicationShutdown,
  type DynamicModule,
  Inject,
  Injectable,
  Module,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { Registry } from 'prom-client';
import { FeaturelogError, type FeaturelogLogger } from '@featurelog/domain';
import type { EventLog } from '@featurelog/log';
import type { OnlineStore } from '@featurelog/online-store';
import { FeatureProducer, useExactJsonBodies } from '@featurelog/producer';
import { featurelogApp, type AppSettings } from '@featurelog/runtime';
import type { RegistryFollower } from '@featurelog/registry';
import type { WriterSchemaSource } from '@featurelog/avro';
import {
  createMetricsRegistry,
  FeaturelogExceptionFilter,
  nestLoggerService,
  ObservabilityModule,
  consoleLogger,
  type HealthCheck,
} from '@featurelog/observability';
import { ApiKeyVerifier, declareAccessUnder, guardedFastifyAdapter, type ApiKeysConfig } from '@featurelog/auth';
import {
  CatalogSource,
  DOCUMENTED_INPUTS,
  FeatureSubscriptions,
  LogFeatureRowFeed,
  OnlineFeatureRetriever,
  OPENAPI_DOCUMENT,
  ServingMetrics,
  type FeatureRowFeed,
  type SubscriptionLimits,
} from '@featurelog/serving';
import { registerOnlineFeaturesRoute } from './online-features.route';
import { PushModule } from './push.module';
import { SERVING_RUNTIME, ServingController, type ServingRuntime } from './serving.controller';

export const DEFAULT_SERVING_PORT = 6574;

export interface ServingAppOptions {
  project: string;
  onlineStore: OnlineStore;
  log: EventLog;
  /** Already started (following the registry log live). */
  follower: RegistryFollower;
  /** Needed for subscriptions (writer schemas of feature rows) unless `feed` is given. */
  schemaRegistry?: WriterSchemaSource;
  /** Overrides the log + schema registry feed (tests, embedded mode). */
  feed?: FeatureRowFeed;
  /** The materializer's checkpoint name in the online store, where subscriptions start (default `<project>.materializer`). */
  materializerCheckpoint?: string;
  /** When given, POST /push produces rows through it, for keys with the `push` scope. */
  producer?: FeatureProducer;
  auth: ApiKeysConfig;
  /** From createMetricsRegistry('serving'). */
  metrics: Registry;
  /** Most entity rows per request or subscription (default 1_000). */
  maxEntityRows?: number;
  subscriptions?: SubscriptionLimits;
  /** Largest request body, bytes (Fastify's default, 1 MiB). */
  bodyLimit?: number;
  /** Where Nest's lines go (default consoleLogger()); Nest's logger is process-wide: the last app created sets it. */
  logger?: FeaturelogLogger;
  /** Called once the app is closed (server stopped, subscriptions ended): release what the caller built for it. */
  onClose?: () => Promise<void>;
}

/**
 * The serving app over ports that are already built; initialized, not listening
 * (`await app.listen(DEFAULT_SERVING_PORT, host)`). Closing the app ends the subscriptions and stops
 * the feed it created, then calls `onClose`; the ports belong to the caller.
 */
export async function createServingApp(options: ServingAppOptions): Promise<NestFastifyApplication> {
  const { project, onlineStore, log, follower } = options;
  const catalogs = new CatalogSource(project, follower);
  const metrics = new ServingMetrics(options.metrics);
  const feed =
    options.feed ??
    (options.schemaRegistry
      ? new LogFeatureRowFeed({
          log,
          schemas: options.schemaRegistry,
          project,
          store: onlineStore,
          materializerCheckpoint: options.materializerCheckpoint,
        })
      : unavailableFeed('subscriptions need a schema registry (none was configured)'));
  const subscriptions = new FeatureSubscriptions({
    project,
    store: onlineStore,
    feed,
    catalogs,
    limits: { maxEntityRows: options.maxEntityRows, ...options.subscriptions },
    registryChanges: (listener) => follower.onChange(() => listener()),
  });
  const auth = new ApiKeyVerifier(options.auth);
  const runtime = {
    retriever: new OnlineFeatureRetriever({
      project,
      store: onlineStore,
      catalogs,
      maxEntityRows: options.maxEntityRows,
    }),
    subscriptions,
    metrics,
  };
  const app = await NestFactory.create<NestFastifyApplication>(
    ServingAppModule.forParts({
      runtime,
      producer: options.producer,
      metrics: options.metrics,
      checks: [
        { name: 'online-store', check: () => onlineStore.ping() },
        {
          name: 'log',
          check: async () => {
            await log.endOffsets(follower.topic);
          },
        },
        { name: 'registry', check: async () => follower.assertComplete() },
      ],
      shutdown: {
        // Subscriptions are endless responses: ended first, so the server's close does not wait on them.
        beforeServerClose: async () => {
          subscriptions.closeAll();
          if (options.feed === undefined) await feed.close();
        },
        afterServerClose: async () => {
          await options.onClose?.();
        },
      },
    }),
    // Subscriptions are endless responses: on close they are ended, and their sockets destroyed.
    guardedFastifyAdapter(auth, { bodyLimit: options.bodyLimit ?? 1_048_576, forceCloseConnections: true }),
    { logger: nestLoggerService(options.logger ?? consoleLogger()) },
  );
  app.useGlobalFilters(new FeaturelogExceptionFilter());
  useExactJsonBodies(app);
  const fastify = app.getHttpAdapter().getInstance();
  fastify.addHook('onResponse', (request, reply, done) => {
    metrics.observe(request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime);
    done();
  });
  await app.register(fastifySwagger as never, {
    openapi: OPENAPI_DOCUMENT,
    transform: ({ schema, url }: { schema: Record<string, unknown> | undefined; url: string }) => ({
      schema: { ...schema, ...DOCUMENTED_INPUTS[url] },
      url,
    }),
  });
  // The docs describe the API to those who may read it.
  declareAccessUnder(fastify as never, '/docs', 'read');
  await app.register(fastifySwaggerUi as never, { routePrefix: '/docs' });
  registerOnlineFeaturesRoute(fastify, runtime);
  await app.init();
  return app;
}

/** What the serving app's module is composed of; built by createServingApp. */
export interface ServingAppParts {
  runtime: ServingRuntime;
  /** When given, POST /push produces rows through it, for keys with the `push` scope. */
  producer?: FeatureProducer;
  metrics: Registry;
  checks: HealthCheck[];
  shutdown: { beforeServerClose(): Promise<void>; afterServerClose(): Promise<void> };
}

const SERVING_SHUTDOWN = Symbol('featurelog:ServingShutdown');

// Nest's application proxy ignores assignments (app.close = … does nothing): its lifecycle hooks it is.
@Injectable()
class ServingLifecycle implements BeforeApplicationShutdown, OnApplicationShutdown {
  constructor(@Inject(SERVING_SHUTDOWN) private readonly shutdown: ServingAppParts['shutdown']) {}

  beforeApplicationShutdown(): Promise<void> {
    return this.shutdown.beforeServerClose();
  }

  onApplicationShutdown(): Promise<void> {
    return this.shutdown.afterServerClose();
  }
}

/**
 * GET /subscribe, POST /push (with a producer), /health and /metrics; POST /get-online-features and
 * /docs are registered on the app's Fastify instance by createServingApp.
 */
@Module({})
export class ServingAppModule {
  static forParts(parts: ServingAppParts): DynamicModule {
    // The route guard checks every route's scope (push: `push`), so the module needs no check of its own.
    const push = parts.producer ? [PushModule.forRoot({ producer: parts.producer })] : [];
    return {
      module: ServingAppModule,
      imports: [
        ...push,
        ObservabilityModule.forRoot({ metrics: parts.metrics, checks: { useFactory: () => parts.checks } }),
      ],
      controllers: [ServingController],
      providers: [
        { provide: SERVING_RUNTIME, useValue: parts.runtime },
        { provide: SERVING_SHUTDOWN, useValue: parts.shutdown },
        ServingLifecycle,
      ],
    };
  }
}

export interface ServingAppSettings extends AppSettings {
  /** POST /push for keys with the `push` scope (default true). */
  push?: boolean;
  subscriptions?: SubscriptionLimits;
}

/**
 * The serving app over the project's ports: POST /get-online-features, GET /subscribe, POST /push,
 * /docs, /health and /metrics, with the API keys of its `serving` section. Closing it ends its
 * subscriptions, then stops its registry follower.
 */
export const servingApp = featurelogApp<ServingAppSettings>({
  name: 'serving',
  defaultPort: DEFAULT_SERVING_PORT,
  async start({ runtime, config, settings, logger, auth }) {
    const { follower } = runtime.registry();
    try {
      // One registry partition: each serving instance follows it whole, in a group of its own.
      await follower.start(`${config.project}.serving.registry.${hostname()}.${process.pid}`);
      const app = await createServingApp({
        project: config.project,
        onlineStore: await runtime.onlineStore(),
        log: runtime.log,
        follower,
        schemaRegistry: runtime.schemas,
        // POST /push produces through the log, like any producer; the materializer and compactor pick it up.
        producer:
          settings.push === false
            ? undefined
            : new FeatureProducer({
                log: runtime.log,
                schemas: runtime.schemas,
                project: config.project,
                definitions: follower,
              }),
        auth,
        maxEntityRows: config.serving?.maxEntityRows,
        subscriptions: settings.subscriptions,
        metrics: createMetricsRegistry('serving'),
        logger,
      });
      return { app, release: () => follower.stop() };
    } catch (error) {
      await follower.stop().catch(() => undefined);
      throw error;
    }
  },
});

function unavailableFeed(reason: string): FeatureRowFeed {
  return {
    follow: () => Promise.reject(new FeaturelogError('SUBSCRIPTIONS_UNAVAILABLE', reason, { retriable: true })),
    close: async () => undefined,
  };
}
