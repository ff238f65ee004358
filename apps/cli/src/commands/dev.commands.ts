import { once } from 'node:events';
import { Module, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Command } from 'commander';
import type { ProjectConfig } from '@featurelog/config';
import { FeaturelogError } from '@featurelog/domain';
import { FileEventLog } from '@featurelog/log';
import { createMetricsRegistry } from '@featurelog/observability';
import { FeatureProducer } from '@featurelog/producer';
import {
  devServerHoldsMessage,
  liveDevServer,
  ProjectRuntime,
  registerEventLogBridge,
  removeDevServerRecord,
  writeDevServerRecord,
  type DevServerRecord,
  type DevServerUrls,
} from '@featurelog/runtime';
import { DEFAULT_REGISTRY_PORT, startRegistryApp } from '../../../registry/src/main';
import { REGISTRY_RUNTIME, type RegistryRuntime } from '../../../registry/src/registry.runtime';
import { DEFAULT_MATERIALIZER_PORT, MATERIALIZER, startMaterializer } from '../../../materializer/src/main';
import type { Materializer } from '@featurelog/materializer';
import type { JobWorker } from '@featurelog/jobs';
import { JOB_WORKER } from '../../../jobs/src/jobs.controller';
import { createServingApp, DEFAULT_SERVING_PORT } from '../../../serving/src/serving-app';
import { DEFAULT_COMPACTOR_PORT, startCompactor } from '../../../compactor/src/main';
import { DEFAULT_JOBS_PORT, startJobs } from '../../../jobs/src/main';
import { consoleOutput, table, type Output } from '../output';
import { loadConfig } from '../repo';

/** The dev server's own API (aggregated /health, the log bridge); the apps keep their usual ports. */
export const DEFAULT_DEV_PORT = 6569;
/** How long `featurelog dev` waits for every app to report healthy before printing their state anyway. */
const HEALTHY_WITHIN_MS = 30_000;
/** The apps' warnings and errors, without Nest's start-up lines. */
const QUIET: Array<'error' | 'warn'> = ['error', 'warn'];
/** A log bridge request can carry an ingest batch. */
const DEV_BODY_LIMIT = 64 * 1024 * 1024;

interface DevOptions {
  repo: string;
  json: boolean;
  host: string;
  portOffset: string;
  anyPorts: boolean;
}

/** One app of the dev process: where it listens and how to stop it. */
interface RunningApp {
  name: keyof DevServerUrls;
  url: string;
  close(): Promise<void>;
}

export interface DevServer {
  record: DevServerRecord;
  /** Stops every app, releases the stores and removes dev.json. Idempotent. */
  stop(): Promise<void>;
}

export function registerDevCommands(program: Command): void {
  program
    .command('dev')
    .description(
      'run the registry, materializer, compactor, jobs and serving apps in one process, on the ' +
        'embedded stores or on the services featurelog.yaml names; other featurelog commands on this repo ' +
        'go through it while it runs. Stops cleanly on Ctrl-C (SIGINT) or SIGTERM.',
    )
    .option('--host <host>', 'interface the APIs listen on', '127.0.0.1')
    .option('--port-offset <n>', 'added to every default port (serving 6566, dev 6569, registry 6570, …)', '0')
    .option('--any-ports', 'let the system choose free ports (they are printed and written to .featurelog/dev.json)')
    .action(async (options: DevOptions) => {
      const out = consoleOutput(options.json);
      const config = await loadConfig(options);
      const offset = Number(options.portOffset);
      if (!Number.isInteger(offset) || offset < 0) {
        throw new FeaturelogError(
          'INVALID_OPTION',
          `--port-offset must be a non-negative integer, got ${options.portOffset}`,
        );
      }
      const port = (defaultPort: number) => (options.anyPorts ? 0 : defaultPort + offset);
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
    });
}

/**
 * Starts every app of the project in this process over one ProjectRuntime, so the embedded stores
 * (single-process) are shared rather than fought over, then writes `.featurelog/dev.json`.
 */
export async function startDevServer(
  config: ProjectConfig,
  {
    host = '127.0.0.1',
    port = (defaultPort: number) => defaultPort,
    onRecovery = () => undefined,
  }: { host?: string; port?: (defaultPort: number) => number; onRecovery?: (line: string) => void } = {},
): Promise<DevServer> {
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
  // Held for the whole life of the process: every app's ProjectRuntime.open is a lease on these ports.
  const runtime = await ProjectRuntime.open(config, { embeddedAccess: 'direct' });
  const apps: RunningApp[] = [];
  const stopApps = async () => {
    for (const app of apps.splice(0).reverse()) await app.close().catch(() => undefined);
    // The stores are released even if an app kept its lease: the next process must find them free.
    await runtime.closeForEveryLease();
  };
  try {
    if (runtime.log instanceof FileEventLog) {
      for (const recovery of runtime.log.recoveries)
        onRecovery(`recovered the embedded log: ${JSON.stringify(recovery)}`);
    }
    // The project topics exist before any app follows them (a fresh repo has none yet).
    for (const spec of runtime.topics.project) await runtime.log.ensureTopic(spec);

    const registry = await startRegistryApp({ config, host, port: port(DEFAULT_REGISTRY_PORT), logger: QUIET });
    apps.push(await running('registry', registry, () => registry.get<RegistryRuntime>(REGISTRY_RUNTIME).close()));
    const materializer = await startMaterializer({
      config,
      host,
      port: port(DEFAULT_MATERIALIZER_PORT),
      logger: QUIET,
    });
    apps.push(await running('materializer', materializer, () => materializer.get<Materializer>(MATERIALIZER).stop()));
    const compactor = await startCompactor({
      config,
      runtime,
      host,
      port: port(DEFAULT_COMPACTOR_PORT),
      nestLogger: QUIET,
    });
    apps.push({ ...(await running('compactor', compactor.app)), close: () => compactor.close() });
    const jobs = await startJobs({ config, host, port: port(DEFAULT_JOBS_PORT), logger: QUIET });
    apps.push(await running('jobs', jobs, () => jobs.get<JobWorker>(JOB_WORKER).stop()));
    apps.push(await startServing(runtime, host, port(DEFAULT_SERVING_PORT)));
    apps.push(await startDevApi(runtime, apps, host, port(DEFAULT_DEV_PORT)));
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
  let stopped: Promise<void> | undefined;
  return {
    record,
    stop: () =>
      (stopped ??= (async () => {
        await removeDevServerRecord(config.repoDir);
        await stopApps();
      })()),
  };
}

/**
 * `stopWork` stops what the app runs (consumers, folds) before its HTTP server closes: the apps' own
 * close hooks are not relied on, so that nothing still writes when the shared stores close.
 */
async function running(
  name: RunningApp['name'],
  app: INestApplication,
  stopWork: () => Promise<void> = async () => undefined,
): Promise<RunningApp> {
  return {
    name,
    url: localUrl(await app.getUrl()),
    close: async () => {
      await stopWork();
      await app.close();
    },
  };
}

/** Nest reports `http://[::1]:port` or `http://127.0.0.1:port`; clients want one they can call. */
function localUrl(url: string): string {
  return url.replace('[::1]', '127.0.0.1').replace('0.0.0.0', '127.0.0.1');
}

async function startServing(runtime: ProjectRuntime, host: string, port: number): Promise<RunningApp> {
  const { follower } = runtime.registry();
  await follower.start(`${runtime.project}.serving.registry`);
  try {
    const app = await createServingApp({
      project: runtime.project,
      onlineStore: await runtime.onlineStore(),
      log: runtime.log,
      follower,
      schemaRegistry: runtime.schemas,
      // POST /push produces through the log, like any producer; the materializer and compactor pick it up.
      producer: new FeatureProducer({
        log: runtime.log,
        schemas: runtime.schemas,
        project: runtime.project,
        definitions: follower,
      }),
      auth: {},
      metrics: createMetricsRegistry('serving'),
      // Not false: Nest's logger is process-wide, and `logger: false` drops it for every app of this process
      // (a later app's levels do not bring it back), so a 500 of any app, logged by the exception filter,
      // would leave no line.
      logger: QUIET,
    });
    await app.listen(port, host);
    const url = localUrl(await app.getUrl());
    return {
      name: 'serving',
      url,
      close: async () => {
        await app.close();
        await follower.stop();
      },
    };
  } catch (error) {
    await follower.stop();
    throw error;
  }
}

/** The dev process's own API: `/health` of every app at once, and the log bridge other processes use. */
async function startDevApi(
  runtime: ProjectRuntime,
  apps: readonly RunningApp[],
  host: string,
  port: number,
): Promise<RunningApp> {
  @Module({})
  class DevApiModule {}
  const app = await NestFactory.create<NestFastifyApplication>(
    DevApiModule,
    new FastifyAdapter({ bodyLimit: DEV_BODY_LIMIT }),
    // Nest's logger is process-wide and the last app created sets it: this one, created last.
    { logger: QUIET },
  );
  const fastify = app.getHttpAdapter().getInstance();
  registerEventLogBridge(fastify, runtime.log);
  fastify.get('/health', async (_request, reply) => {
    // `apps` ends with this app itself, which must not ask itself.
    const others = apps.filter((running) => running.name !== 'dev');
    const reports = await Promise.all(
      others.map(async (running) => ({ app: running.name, ...(await health(running.url)) })),
    );
    const ok = reports.every((report) => report.status === 'ok');
    return reply.status(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', pid: process.pid, apps: reports });
  });
  await app.listen(port, host);
  return { name: 'dev', url: localUrl(await app.getUrl()), close: () => app.close() };
}

interface AppHealth {
  url: string;
  status: 'ok' | 'unavailable';
  checks: Record<string, { status: string; error?: string }>;
}

async function health(url: string): Promise<AppHealth> {
  try {
    const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(3_000) });
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
      apps.map(async ([name, url]): Promise<[string, AppHealth]> => [name, await health(url)]),
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
          name === 'serving' ? `${report.url}  (/get-online-features, /push, /docs)` : report.url,
          report.status === 'ok' ? `ok (${Object.keys(report.checks).join(', ')})` : `UNAVAILABLE: ${failing(report)}`,
        ]),
        ['dev', `${record.urls.dev}  (/health of all apps, /log bridge)`, 'ok'],
      ],
    ),
  );
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
