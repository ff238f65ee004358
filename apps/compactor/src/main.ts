import 'reflect-metadata';

import { NestFactory } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { ApiKeyVerifier, guardedFastifyAdapter, type ApiKeysConfig } from '@featurelog/auth';
import { appListenAddress, uiBrowserOrigins, type ProjectConfig } from '@featurelog/config';
import { Compactor, type CompactorOptions } from '@featurelog/compactor';
import { ProjectRuntime, runAppMain } from '@featurelog/runtime';
import { CompactorAppModule } from './compactor.module';

export const DEFAULT_COMPACTOR_PORT = 6572;

/** Compactor tunables that are not wiring (see COMPACTOR_DEFAULTS for each default). */
export type CompactorTuning = Omit<
  CompactorOptions,
  'project' | 'log' | 'schemas' | 'follower' | 'offlineRoot' | 'segmentsTopicSpec' | 'dlqTopicSpec'
>;

export interface CompactorAppOptions extends CompactorTuning {
  config: ProjectConfig;
  port?: number;
  host?: string;
  /** Reuse ports already opened in this process (`featurelog dev`); otherwise opened here and closed on shutdown. */
  runtime?: ProjectRuntime;
  /** Overrides `serving.apiKeys` of featurelog.yaml (`{}`: no authentication, for local use). */
  auth?: ApiKeysConfig;
  /** Nest's own log levels; `featurelog dev` passes ['error', 'warn']. */
  nestLogger?: false | Array<'error' | 'warn' | 'log'>;
}

export interface RunningCompactor {
  app: NestFastifyApplication;
  compactor: Compactor;
  /** Stops compacting (flushing what is buffered), then the HTTP server, then the ports it opened. */
  close(): Promise<void>;
}

/**
 * The compactor app: follows the registry, compacts every offline view's topic into Parquet segments
 * under the configured offline root, and serves /health and /metrics.
 */
export async function startCompactor(options: CompactorAppOptions): Promise<RunningCompactor> {
  const {
    config,
    port = appListenAddress(options.config.apps, 'compactor', DEFAULT_COMPACTOR_PORT, {}).port,
    host = appListenAddress(options.config.apps, 'compactor', DEFAULT_COMPACTOR_PORT, {}).host,
    runtime: shared,
    nestLogger = ['error', 'warn', 'log'],
    auth: keys,
    ...tuning
  } = options;
  // Before anything opens: a key that cannot be checked stops the app here.
  const auth = new ApiKeyVerifier(
    keys ?? { apiKeys: config.serving?.apiKeys ?? [], browserOrigins: uiBrowserOrigins(config.apps) },
  );
  const runtime = shared ?? (await ProjectRuntime.open(config));
  const { follower } = runtime.registry();
  let compactor: Compactor | undefined;
  try {
    await follower.start(`featurelog-compactor.${config.project}.registry.${process.pid}.${Date.now()}`);
    compactor = await Compactor.start({
      ...tuning,
      project: config.project,
      log: runtime.log,
      schemas: runtime.schemas,
      follower,
      offlineRoot: config.offlineStore.path,
      segmentsTopicSpec: runtime.topics.project.find((spec) => spec.name === `${config.project}.segments`),
      dlqTopicSpec: runtime.topics.project.find((spec) => spec.name === `${config.project}.dlq`),
    });
    const app = await NestFactory.create<NestFastifyApplication>(
      CompactorAppModule.forCompactor(compactor),
      guardedFastifyAdapter(auth),
      { logger: nestLogger },
    );
    await app.listen(port, host);
    const running = compactor;
    let closing: Promise<void> | undefined;
    return {
      app,
      compactor: running,
      close: () =>
        (closing ??= (async () => {
          await running.stop({ flush: true });
          await app.close();
          await follower.stop();
          if (!shared) await runtime.close();
        })()),
    };
  } catch (error) {
    await compactor?.stop({ flush: false });
    await follower.stop();
    if (!shared) await runtime.close();
    throw error;
  }
}

/** Tuning from FEATURELOG_COMPACTOR_* variables; unset ones keep their defaults. */
export function tuningFromEnv(env: NodeJS.ProcessEnv = process.env): CompactorTuning {
  const number = (name: string): number | undefined => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return undefined;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < 0) {
      throw new Error(`${name}=${JSON.stringify(raw)} is not a non-negative number`);
    }
    return value;
  };
  const entries = {
    maxRows: number('FEATURELOG_COMPACTOR_MAX_ROWS'),
    maxAgeMs: number('FEATURELOG_COMPACTOR_MAX_AGE_MS'),
    mergeIntervalMs: number('FEATURELOG_COMPACTOR_MERGE_INTERVAL_MS'),
    gcIntervalMs: number('FEATURELOG_COMPACTOR_GC_INTERVAL_MS'),
    orphanGraceMs: number('FEATURELOG_COMPACTOR_ORPHAN_GRACE_MS'),
    replacedGraceMs: number('FEATURELOG_COMPACTOR_REPLACED_GRACE_MS'),
  };
  return Object.fromEntries(Object.entries(entries).filter(([, value]) => value !== undefined));
}

if (require.main === module) {
  runAppMain(
    'compactor',
    (config) =>
      startCompactor({
        config,
        ...tuningFromEnv(),
        ...appListenAddress(config.apps, 'compactor', DEFAULT_COMPACTOR_PORT),
      }),
    async (running) => {
      const shutdown = () => void running.close().then(() => process.exit(0));
      process.once('SIGTERM', shutdown);
      process.once('SIGINT', shutdown);
      return `listening on ${await running.app.getUrl()}`;
    },
  );
}
