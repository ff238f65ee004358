import type { DynamicModule, INestApplication, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ApiKeyVerifier, guardedFastifyAdapter, type ApiKeysConfig } from '@featurelog/auth';
import {
  appListenAddress,
  loadProjectConfig,
  uiBrowserOrigins,
  type AppName,
  type ProjectConfig,
} from '@featurelog/config';
import type { FeaturelogLogger } from '@featurelog/domain';
import {
  HEALTH_CHECKS,
  nestLoggerService,
  runHealthChecks,
  consoleLogger,
  type HealthCheck,
  type HealthReport,
} from '@featurelog/observability';
import { resolve } from 'node:path';
import { ProjectRuntime } from './project-runtime';

/** What every app takes besides the ports it runs on; each app adds its own tuning. */
export interface AppSettings {
  /** Default: `apps.<app>` of featurelog.yaml, then 127.0.0.1 (FEATURELOG_<APP>_HOST is read by mains only). */
  host?: string;
  /** Default: `apps.<app>` of featurelog.yaml, then the app's default port; 0 picks a free one. */
  port?: number;
  /** Overrides `serving.apiKeys` of featurelog.yaml (`{ apiKeys: [] }`: no authentication, for local use). */
  auth?: ApiKeysConfig;
  /** Where the app, the libs it composes and Nest write their lines; default consoleLogger() (info and above). */
  logger?: FeaturelogLogger;
}

/** An app once started: listening, working, and stopped by `close`. */
export interface RunningApp {
  readonly name: AppName;
  /** Where it listens, as a client on this host calls it (`http://127.0.0.1:6570`). */
  readonly url: string;
  /** Its Fastify instance: the routes it serves (what tests enumerate). */
  readonly http: object;
  /** Its /health checks, run in this process (no HTTP, no key). */
  health(): Promise<HealthReport>;
  /**
   * Stops what the app runs (consumers, folds, jobs) first, so nothing writes when the stores close,
   * then its HTTP server, then releases what it built (followers, its own state). The ProjectRuntime it
   * was given stays open: it belongs to the caller. Idempotent.
   */
  close(): Promise<void>;
}

/**
 * An app of featurelog, the same shape for all: a name, a default port, and `create`, which builds the
 * app on ports the caller opened and starts it. The caller owns the ProjectRuntime: an app's main
 * opens one per process (runAppMain), `featurelog dev` shares one among all apps (the embedded stores
 * admit one process). Every app's entry file (`apps/<app>/src/index.ts`, `@featurelog/app-<app>`)
 * exports one, beside its Nest module.
 */
export interface FeaturelogApp<S extends AppSettings = AppSettings> {
  readonly name: AppName;
  readonly defaultPort: number;
  create(runtime: ProjectRuntime, settings?: S): Promise<RunningApp>;
}

/** What an app's `start` is given: the ports, its settings, and the pieces every app builds the same way. */
export interface AppContext<S extends AppSettings> {
  runtime: ProjectRuntime;
  config: ProjectConfig;
  settings: S;
  /** The settings' logger, or consoleLogger(). */
  logger: FeaturelogLogger;
  /** The settings' API keys, or featurelog.yaml's (`serving.apiKeys`). */
  auth: ApiKeysConfig;
  /**
   * The app's Nest application over `module`, on a Fastify adapter whose guard checks every route's
   * scope, with Nest's own lines going to `logger`. Not listening yet.
   */
  nest(
    module: Type | DynamicModule,
    adapter?: { bodyLimit?: number; forceCloseConnections?: boolean },
  ): Promise<INestApplication>;
}

/** What an app's `start` built: its Nest application (not listening yet) and how to stop what it runs. */
export interface StartedApp {
  app: INestApplication;
  /** Stops what the app runs (consumers, folds, jobs), before its HTTP server closes. */
  stopWork?: () => Promise<void>;
  /** Releases what it built (followers, its own state), after its HTTP server closed. */
  release?: () => Promise<void>;
}

/**
 * An app from what it alone does (`start`: build its parts and its Nest application, start its work)
 * and what every app does the same way: check the API keys before anything opens, pick the logger,
 * listen where the settings or featurelog.yaml say, report health, and close in RunningApp's order.
 * A `start` that fails releases what it had built before it throws.
 */
export function featurelogApp<S extends AppSettings>(definition: {
  name: AppName;
  defaultPort: number;
  start(context: AppContext<S>): Promise<StartedApp>;
}): FeaturelogApp<S> {
  const { name, defaultPort } = definition;
  return {
    name,
    defaultPort,
    async create(runtime: ProjectRuntime, settings = {} as S): Promise<RunningApp> {
      const { config } = runtime;
      const auth = settings.auth ?? configuredKeys(config);
      // Before anything opens: a key that cannot be checked stops the app here.
      const verifier = new ApiKeyVerifier(auth);
      const logger = settings.logger ?? consoleLogger();
      const nest: AppContext<S>['nest'] = (module, adapter) =>
        NestFactory.create(module, guardedFastifyAdapter(verifier, adapter), { logger: nestLoggerService(logger) });
      const {
        app,
        stopWork = async () => undefined,
        release = async () => undefined,
      } = await definition.start({
        runtime,
        config,
        settings,
        logger,
        auth,
        nest,
      });
      const configured = appListenAddress(config.apps, name, defaultPort, {});
      try {
        await app.listen(settings.port ?? configured.port, settings.host ?? configured.host);
      } catch (error) {
        // A port in use: nothing was served yet, so all of it goes, in the usual order.
        await stopWork().catch(() => undefined);
        await app.close().catch(() => undefined);
        await release().catch(() => undefined);
        throw error;
      }
      const checks = app.get<symbol, HealthCheck[]>(HEALTH_CHECKS, { strict: false });
      let closing: Promise<void> | undefined;
      return {
        name,
        url: localUrl(await app.getUrl()),
        http: app.getHttpAdapter().getInstance() as object,
        health: () => runHealthChecks(checks),
        close: () =>
          (closing ??= (async () => {
            await stopWork();
            await app.close();
            await release();
          })()),
      };
    },
  };
}

/** Nest reports `http://[::1]:port` or `http://0.0.0.0:port`; clients want one they can call. */
export function localUrl(url: string): string {
  return url.replace('[::1]', '127.0.0.1').replace('0.0.0.0', '127.0.0.1');
}

/**
 * Starts one app on a ProjectRuntime of its own, closed with the app: what an app's main and a test
 * of one app use. The API keys are checked before anything opens, so a key whose variable is unset
 * stops the app naming it, with nothing to undo.
 */
export async function startApp<S extends AppSettings>(
  app: FeaturelogApp<S>,
  config: ProjectConfig,
  settings?: S,
): Promise<RunningApp> {
  // Before anything opens: a key that cannot be checked stops the app here, with nothing to undo.
  new ApiKeyVerifier(settings?.auth ?? configuredKeys(config));
  const runtime = await ProjectRuntime.open(config);
  try {
    const running = await app.create(runtime, settings);
    return {
      ...running,
      health: () => running.health(),
      close: async () => {
        await running.close();
        await runtime.close();
      },
    };
  } catch (error) {
    await runtime.close();
    throw error;
  }
}

/**
 * The command-line entry of an app: reads featurelog.yaml from FEATURELOG_REPO (default the working
 * directory), starts the app on the address FEATURELOG_<APP>_HOST/_PORT or featurelog.yaml name, prints
 * `featurelog <app> listening on <url>` (and what `describe` adds), stops it on SIGTERM or SIGINT, and
 * exits 1 with the reason when it cannot start. Every app's main is this, so they all start, fail,
 * report and stop the same way.
 */
export function runAppMain<S extends AppSettings>(
  app: FeaturelogApp<S>,
  settings: (config: ProjectConfig) => Omit<S, 'host' | 'port'> = () => ({}) as S,
  describe: (config: ProjectConfig) => string = () => '',
): void {
  const repo = resolve(process.env.FEATURELOG_REPO ?? '.');
  loadProjectConfig(repo)
    .then(async (config) => {
      const address = appListenAddress(config.apps, app.name, app.defaultPort);
      const running = await startApp(app, config, { ...settings(config), ...address } as S);
      const stop = () => void running.close().then(() => process.exit(0));
      process.once('SIGTERM', stop).once('SIGINT', stop);
      const more = describe(config);
      process.stdout.write(`featurelog ${app.name} listening on ${running.url}${more ? ` ${more}` : ''}\n`);
    })
    .catch((error: unknown) => {
      process.stderr.write(`featurelog ${app.name}: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    });
}

/**
 * The keys of featurelog.yaml (`serving.apiKeys`), and the web UI's origin (from `apps.ui`, or
 * FEATURELOG_UI_ORIGINS) as the one a browser may call the app from.
 */
export function configuredKeys(config: ProjectConfig): ApiKeysConfig {
  return { apiKeys: config.serving?.apiKeys ?? [], browserOrigins: uiBrowserOrigins(config.apps) };
}
