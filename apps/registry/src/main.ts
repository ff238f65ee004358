import 'reflect-metadata';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ShutdownHookModule } from '@featurelog/observability';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { ApiKeyVerifier, guardedFastifyAdapter, type ApiKeysConfig } from '@featurelog/auth';
import { appListenAddress, uiBrowserOrigins, type ProjectConfig } from '@featurelog/config';
import { RegistryFollower, RegistryStateStore } from '@featurelog/registry';
import { ProjectRuntime, runAppMain } from '@featurelog/runtime';
import { RegistryAppModule } from './registry.module';
import { RegistryFoldProgress, type RegistryRuntime } from './registry.runtime';

export const DEFAULT_REGISTRY_PORT = 6570;

export interface RegistryAppOptions {
  config: ProjectConfig;
  /** classic-level directory of the folded registry; default `<repo>/.featurelog/registry`. */
  statePath?: string;
  port?: number;
  host?: string;
  /** Events folded (and checkpointed in one LevelDB batch) at a time. */
  foldBatch?: number;
  /** Wait between attempts when the log cannot be read at start. */
  retryDelayMs?: number;
  /** Overrides `serving.apiKeys` of featurelog.yaml (`{}`: no authentication, for local use). */
  auth?: ApiKeysConfig;
  /** Nest's own log lines; `featurelog dev` passes false. */
  logger?: false | Array<'error' | 'warn' | 'log'>;
}

/** The app and what it owns beyond Nest, released on close. */
@Module({})
class RegistryAppRoot {}

/**
 * The registry app: folds `<project>.registry` into classic-level (resuming from its checkpoint, or
 * rebuilding from offset 0 when the state is gone), follows the log live, and serves the REST API.
 * It listens at once; the registry itself is served once the fold has caught up (503 before).
 */
export async function startRegistryApp(options: RegistryAppOptions): Promise<NestFastifyApplication> {
  const { config, foldBatch = 5_000, retryDelayMs = 1_000 } = options;
  // Before anything opens: a key that cannot be checked stops the app here.
  const auth = new ApiKeyVerifier(
    options.auth ?? { apiKeys: config.serving?.apiKeys ?? [], browserOrigins: uiBrowserOrigins(config.apps) },
  );
  const project = await ProjectRuntime.open(config);
  const store = await RegistryStateStore.open(options.statePath ?? join(config.repoDir, '.featurelog', 'registry'));
  const loaded = await store.load();
  const follower = new RegistryFollower(
    { log: project.log, codec: project.registryCodec, project: config.project, maxBatch: foldBatch },
    loaded.state,
    loaded.unreadable,
  );
  store.attach(follower);
  const registry = project.registry(follower);
  const fold = new RegistryFoldProgress(follower);
  let closing = false;

  const runtime: RegistryRuntime = {
    follower,
    applier: registry.applier,
    fold,
    checkLog: async () => {
      if (follower.followError) throw follower.followError;
      await project.log.describeTopic(follower.topic);
    },
    close: async () => {
      closing = true;
      await follower.stop();
      await store.close();
      await project.close();
    },
  };
  const app = await NestFactory.create<NestFastifyApplication>(
    {
      module: RegistryAppRoot,
      imports: [
        RegistryAppModule.forRuntime(runtime),
        ShutdownHookModule.onShutdown(async () => {
          closing = true;
          await following;
          await runtime.close();
        }),
      ],
    },
    guardedFastifyAdapter(auth),
    { logger: options.logger ?? ['error', 'warn', 'log'] },
  );
  app.enableShutdownHooks();
  const listen = appListenAddress(config.apps, 'registry', DEFAULT_REGISTRY_PORT, {});
  await app.listen(options.port ?? listen.port, options.host ?? listen.host);

  const following = (async () => {
    for (let attempt = 0; !closing; attempt++) {
      try {
        // The registry topic is the app's own: created (as declared in topics/) so it can be followed
        // before the first apply.
        const declared = project.topics.project.find((spec) => spec.name === follower.topic);
        if (declared) await project.log.ensureTopic(declared);
        fold.target((await project.log.endOffsets(follower.topic)).get(0) ?? 0);
        await follower.catchUp();
        fold.done();
        await follower.start(`${config.project}.registry-app`);
        return;
      } catch (error) {
        fold.failed(error);
        await delay(Math.min(retryDelayMs * 2 ** attempt, 30_000));
      }
    }
  })();
  return app;
}

if (require.main === module) {
  const foldBatch = process.env.FEATURELOG_REGISTRY_FOLD_BATCH;
  runAppMain(
    'registry',
    (config) =>
      startRegistryApp({
        config,
        ...(process.env.FEATURELOG_REGISTRY_STATE ? { statePath: process.env.FEATURELOG_REGISTRY_STATE } : {}),
        ...(foldBatch ? { foldBatch: Number(foldBatch) } : {}),
        ...appListenAddress(config.apps, 'registry', DEFAULT_REGISTRY_PORT),
      }),
    async (app) => `listening on ${await app.getUrl()}`,
  );
}
