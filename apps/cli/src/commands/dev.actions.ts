// First: the libs' NestJS decorators record their metadata through it as their classes are defined.
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { ApiKeyVerifier, guardedFastifyAdapter, mayUse, routeAccess, type ApiKeysConfig } from '@featurelog/auth';
import { appListenAddress, type AppName, type ProjectConfig } from '@featurelog/config';
import { FeaturelogError, type FeaturelogLogger } from '@featurelog/domain';
import { FileEventLog } from '@featurelog/log';
import { consoleLogger, nestLoggerService, runHealthChecks } from '@featurelog/observability';
import {
  devServerHoldsMessage,
  liveDevServer,
  localUrl,
  ProjectRuntime,
  registerEventLogBridge,
  removeDevServerRecord,
  writeDevServerRecord,
  type DevServerRecord,
  type DevServerUrls,
  type FeaturelogApp,
  type RunningApp,
} from '@featurelog/runtime';
import { compactorApp } from '@featurelog/app-compactor';
import { jobsApp } from '@featurelog/app-jobs';
import { materializerApp } from '@featurelog/app-materializer';
import { registryApp } from '@featurelog/app-registry';
import { servingApp } from '@featurelog/app-serving';
import { uiApp, uiOrigins } from '@featurelog/app-ui';
import { consoleOutput, table, type Output } from '../output';
import { loadConfig } from '../repo';

/** The dev server's own API (aggregated /health, the log bridge); the apps keep their usual ports. */
export const DEFAULT_DEV_PORT = 6569;
/** How long `featurelog dev` waits for every app to report healthy before printing their state anyway. */
const HEALTHY_WITHIN_MS = 30_000;
/** Every app of the project, in the order they start (the registry first: the others follow it). */
const APPS: readonly FeaturelogApp[] = [registryApp, materializerApp, compactorApp, jobsApp, servingApp];
/** A log bridge request can carry an ingest batch. */
const DEV_BODY_LIMIT = 64 * 1024 * 1024;

export interface DevOptions {
  repo: string;
  json: boolean;
  host?: string;
  portOffset: string;
  anyPorts: boolean;
}

export interface DevServer {
  record: DevServerRecord;
  /** Each app's Fastify instance, by name (the dev API included): what tests enumerate the routes of. */
  http: ReadonlyMap<keyof DevServerUrls, object>;
  /** Stops every app, releases the stores and removes dev.json. Idempotent. */
  stop(): Promise<void>;
}

/**
 * The project's API keys for every app of the dev process, plus, when keys are on, one `read` key
 * made for this process alone (random, in memory, never printed): dev asks its own apps for their
 * health details with it. Without keys, none is added (a key would turn authentication on).
 */
function devAccess(config: ProjectConfig): { auth: ApiKeysConfig; verifier: ApiKeyVerifier; ownKey?: string } {
  const keys = config.serving?.apiKeys ?? [];
  // Checked first: a key whose variable is unset stops `featurelog dev` before anything opens, naming it.
  new ApiKeyVerifier({ apiKeys: keys });
  if (keys.length === 0) return { auth: { apiKeys: [] }, verifier: new ApiKeyVerifier({}) };
  const ownKey = randomBytes(32).toString('base64url');
  const auth: ApiKeysConfig = {
    apiKeys: [...keys, { name: uniqueName('featurelog-dev', keys), key: ownKey, scopes: ['read'] }],
  };
  return { auth, verifier: new ApiKeyVerifier(auth), ownKey };
}

function uniqueName(base: string, keys: ReadonlyArray<{ name: string }>): string {
  let name = base;
  for (let i = 2; keys.some((key) => key.name === name); i++) name = `${base}-${i}`;
  return name;
}

export async function dev(options: DevOptions): Promise<void> {
  const out = consoleOutput(options.json);
  const config = await loadConfig(options);
  const offset = Number(options.portOffset);
  if (!Number.isInteger(offset) || offset < 0) {
    throw new FeaturelogError(
      'INVALID_OPTION',
      `--port-offset must be a non-negative integer, got ${options.portOffset}`,
    );
  }
  const port = (defaultPort: number, app: AppName) =>
    options.anyPorts ? 0 : appListenAddress(config.apps, app, defaultPort + offset).port;
  const started = performance.now();
  const server = await startDevServer(config, { host: options.host, port, onRecovery: (line) => out.print(line) });
  const stopping = stopOnSignals(server, out);
  out.print(`featurelog dev: project ${config.project} (pid ${process.pid}), started in ${ms(started)}\n`);
  out.print(describeStores(config));
  await printHealth(server.record, out);
  out.data(server.record);
  out.print('\nOther featurelog commands on this repo now go through this process. Ctrl-C stops it.');
  await stopping;
  // A driver may keep a timer alive after close; the stores are closed, so nothing is lost by leaving.
  setTimeout(() => process.exit(), 3_000).unref();
}

/**
 * Starts every app of the project in this process over one ProjectRuntime, so the embedded stores
 * (single-process) are shared rather than fought over, then writes `.featurelog/dev.json`.
 */
export async function startDevServer(
  config: ProjectConfig,
  {
    host: hostForAll,
    port = (defaultPort: number, app: AppName) => appListenAddress(config.apps, app, defaultPort).port,
    onRecovery = () => undefined,
  }: {
    /** Every app on this interface; default each app's own (FEATURELOG_<APP>_HOST, apps.<app>.host, 127.0.0.1). */
    host?: string;
    port?: (defaultPort: number, app: AppName) => number;
    onRecovery?: (line: string) => void;
  } = {},
): Promise<DevServer> {
  const host = (app: AppName) => hostForAll ?? appListenAddress(config.apps, app, 0).host;
  const other = await liveDevServer(config.repoDir);
  if (other) {
    throw new FeaturelogError(
      'DEV_SERVER_RUNNING',
      devServerHoldsMessage(other, 'its stores', `use its APIs (${other.urls.dev}/health lists them)`).replace(
        'is running',
        'is already running',
      ),
    );
  }
  const { auth: keys, ownKey } = devAccess(config);
  // Held for the whole life of the process: every app's ProjectRuntime.open is a lease on these ports.
  const runtime = await ProjectRuntime.open(config, { embeddedAccess: 'direct' });
  const apps: RunningApp[] = [];
  const stopApps = async () => {
    for (const app of apps.splice(0).reverse()) await app.close().catch(() => undefined);
    // The stores are released even if an app kept its lease: the next process must find them free.
    await runtime.closeForEveryLease();
  };
  let verifier: ApiKeyVerifier;
  try {
    if (runtime.log instanceof FileEventLog) {
      for (const recovery of runtime.log.recoveries)
        onRecovery(`recovered the embedded log: ${JSON.stringify(recovery)}`);
    }
    // The project topics exist before any app follows them (a fresh repo has none yet).
    for (const spec of runtime.topics.project) await runtime.log.ensureTopic(spec);

    // The apps' warnings and errors, without their start-up lines; one logger for all, as Nest's is process-wide.
    const logger = consoleLogger({ level: 'warn' });
    // The web UI first: its origin is the one the other apps let a browser call them from (CORS).
    const ui = await uiApp.create(runtime, {
      host: host('ui'),
      port: port(uiApp.defaultPort, 'ui'),
      auth: keys,
      logger,
      apps: () =>
        Object.fromEntries(
          apps.filter((app) => app.name !== 'dev' && app.name !== 'ui').map((app) => [app.name, app.url]),
        ),
    });
    apps.push(ui);
    const auth: ApiKeysConfig = { ...keys, browserOrigins: uiOrigins(ui.url) };
    verifier = new ApiKeyVerifier(auth);
    for (const app of APPS) {
      apps.push(
        await app.create(runtime, {
          host: host(app.name),
          port: port(app.defaultPort, app.name),
          auth,
          logger,
        }),
      );
    }
    apps.push(await startDevApi(runtime, apps, host('dev'), port(DEFAULT_DEV_PORT, 'dev'), verifier, ownKey, logger));
  } catch (error) {
    await stopApps();
    throw error;
  }

  const urls = Object.fromEntries(apps.map((app) => [app.name, app.url])) as unknown as DevServerUrls;
  const record: DevServerRecord = {
    pid: process.pid,
    project: config.project,
    startedAt: new Date().toISOString(),
    holds: {
      ...(config.log.type === 'embedded' ? { log: config.log.path } : {}),
      ...(config.onlineStore.type === 'embedded' ? { onlineStore: config.onlineStore.path } : {}),
    },
    urls,
  };
  await writeDevServerRecord(config.repoDir, record);
  healthKeys.set(record, ownKey);
  let stopped: Promise<void> | undefined;
  return {
    record,
    http: new Map(apps.map((app) => [app.name, app.http])),
    stop: () =>
      (stopped ??= (async () => {
        await removeDevServerRecord(config.repoDir);
        await stopApps();
      })()),
  };
}

/**
 * The dev process's own API: `/health` of every app at once, and the log bridge other processes use
 * (`admin` scope). Without a `read` key, /health says ok or not ok and nothing else.
 */
async function startDevApi(
  runtime: ProjectRuntime,
  apps: readonly RunningApp[],
  host: string,
  port: number,
  verifier: ApiKeyVerifier,
  ownKey: string | undefined,
  logger: FeaturelogLogger,
): Promise<RunningApp> {
  @Module({})
  class DevApiModule {}
  const app = await NestFactory.create<NestFastifyApplication>(
    DevApiModule,
    guardedFastifyAdapter(verifier, { bodyLimit: DEV_BODY_LIMIT }),
    // Nest's logger is process-wide and the last app created sets it: this one, created last.
    { logger: nestLoggerService(logger) },
  );
  const fastify = app.getHttpAdapter().getInstance();
  registerEventLogBridge(fastify, runtime.log);
  fastify.get('/health', { config: routeAccess('public') }, async (request, reply) => {
    // `apps` ends with this app itself, which must not ask itself.
    const others = apps.filter((running) => running.name !== 'dev');
    const reports = await Promise.all(
      others.map(async (running) => ({ app: running.name, ...(await health(running.url, ownKey)) })),
    );
    const ok = reports.every((report) => report.status === 'ok');
    const status = ok ? 'ok' : 'unavailable';
    return reply
      .status(ok ? 200 : 503)
      .send(mayUse(request, 'read') ? { status, pid: process.pid, apps: reports } : { status });
  });
  await app.listen(port, host);
  return {
    name: 'dev',
    url: localUrl(await app.getUrl()),
    http: fastify,
    // Every other app's health, checked in this process.
    health: () =>
      runHealthChecks(
        apps
          .filter((running) => running.name !== 'dev')
          .map((running) => ({
            name: running.name,
            check: async () => {
              const report = await running.health();
              if (report.status !== 'ok') throw new Error(`${running.name} is ${report.status}`);
            },
          })),
      ),
    close: () => app.close(),
  };
}

/** The dev process's own `read` key, for its health calls (see devAccess); keyed by its record. */
const healthKeys = new WeakMap<DevServerRecord, string | undefined>();

interface AppHealth {
  url: string;
  status: 'ok' | 'unavailable';
  checks: Record<string, { status: string; error?: string }>;
}

async function health(url: string, key: string | undefined): Promise<AppHealth> {
  try {
    const response = await fetch(`${url}/health`, {
      signal: AbortSignal.timeout(3_000),
      headers: key === undefined ? {} : { authorization: `Bearer ${key}` },
    });
    const body = (await response.json()) as { status?: string; checks?: AppHealth['checks'] };
    return { url, status: body.status === 'ok' ? 'ok' : 'unavailable', checks: body.checks ?? {} };
  } catch (error) {
    return { url, status: 'unavailable', checks: { http: { status: 'unavailable', error: String(error) } } };
  }
}

async function printHealth(record: DevServerRecord, out: Output): Promise<void> {
  const apps = Object.entries(record.urls).filter(([name]) => name !== 'dev') as Array<[string, string]>;
  const deadline = Date.now() + HEALTHY_WITHIN_MS;
  let reports: Array<[string, AppHealth]>;
  for (;;) {
    reports = await Promise.all(
      apps.map(async ([name, url]): Promise<[string, AppHealth]> => [name, await health(url, healthKeys.get(record))]),
    );
    if (reports.every(([, report]) => report.status === 'ok') || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const failing = (report: AppHealth) =>
    Object.entries(report.checks)
      .filter(([, check]) => check.status !== 'ok')
      .map(([name, check]) => `${name}: ${check.error ?? check.status}`)
      .join('; ');
  out.print(
    table(
      ['app', 'url', 'health'],
      [
        ...reports.map(([name, report]) => [
          name,
          name === 'serving'
            ? `${report.url}  (/get-online-features, /push, /docs)`
            : name === 'ui'
              ? `${report.url}  (the web UI: open it in a browser)`
              : report.url,
          report.status === 'ok'
            ? `ok${Object.keys(report.checks).length > 0 ? ` (${Object.keys(report.checks).join(', ')})` : ''}`
            : `UNAVAILABLE: ${failing(report)}`,
        ]),
        ['dev', `${record.urls.dev}  (/health of all apps, /log bridge)`, 'ok'],
      ],
    ),
  );
  if (record.urls.ui !== undefined) out.print(`\nWeb UI: ${record.urls.ui}/`);
}

function describeStores(config: ProjectConfig): string {
  const where = (settings: { type: string; path?: string; url?: string; brokers?: string[] }) =>
    settings.type === 'embedded' || settings.type === 'local'
      ? `${settings.type} (${settings.path})`
      : `${settings.type} (${settings.url ?? settings.brokers?.join(',')})`;
  return [
    `  log:             ${where(config.log)}`,
    `  schema registry: ${where(config.schemaRegistry)}`,
    `  online store:    ${where(config.onlineStore)}`,
    `  offline store:   ${where(config.offlineStore)}`,
    // The registry app reconciles the repo's connectors on these workers.
    ...Object.entries(config.connect?.workers ?? {}).map(
      ([name, worker]) => `  connect worker:  ${name} (${worker.url}), connectors kept by the registry app`,
    ),
    '',
  ].join('\n');
}

/** Resolves once the server has stopped after SIGINT or SIGTERM; a second signal exits at once. */
async function stopOnSignals(server: DevServer, out: Output): Promise<void> {
  // The apps' Nest shutdown hooks would each dispose their app and re-raise the signal; the process
  // that composes them owns the signals and stops them in order (apps, then the shared stores).
  process.removeAllListeners('SIGINT').removeAllListeners('SIGTERM');
  const signal = await Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')]).then(
    ([name]) => name as string,
  );
  const force = () => {
    process.stderr.write('featurelog dev: stopping now\n');
    process.exit(130);
  };
  process.once('SIGINT', force).once('SIGTERM', force);
  out.print(`\n${signal}: stopping the apps…`);
  const started = performance.now();
  await server.stop();
  out.print(`featurelog dev stopped in ${ms(started)}.`);
}

function ms(since: number): string {
  return `${Math.round(performance.now() - since)} ms`;
}
