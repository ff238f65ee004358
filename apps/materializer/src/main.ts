import 'reflect-metadata';
import { randomUUID } from 'node:crypto';

import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { ApiKeyVerifier, guardedFastifyAdapter, type ApiKeysConfig } from '@featurelog/auth';
import { appListenAddress, uiBrowserOrigins, type ProjectConfig } from '@featurelog/config';
import { Materializer, MaterializerMetrics, type MaterializerOptions } from '@featurelog/materializer';
import { createMetricsRegistry, ShutdownHookModule } from '@featurelog/observability';
import { ProjectRuntime, runAppMain } from '@featurelog/runtime';
import { MaterializerAppModule } from './materializer.module';

export { MATERIALIZER } from './materializer.module';

export const DEFAULT_MATERIALIZER_PORT = 6571;

export interface MaterializerAppOptions {
  config: ProjectConfig;
  port?: number;
  host?: string;
  /** Tuning passed to the Materializer (batch sizes, intervals, backoff). */
  tuning?: Omit<MaterializerOptions, 'project' | 'log' | 'schemas' | 'store' | 'follower' | 'metrics'>;
  /** Overrides `serving.apiKeys` of featurelog.yaml (`{}`: no authentication, for local use). */
  auth?: ApiKeysConfig;
  /** Nest's own log lines; `featurelog dev` passes false. */
  logger?: false | Array<'error' | 'warn' | 'log'>;
}

/** The app and what it owns beyond Nest, released on close. */
@Module({})
class MaterializerAppRoot {}

/**
 * The materializer app: follows the registry, projects every online view's feature topic into the
 * online store (see Materializer), and serves /health and /metrics. Runs standalone (main) or
 * in-process (`featurelog dev`); closing the app stops consuming and closes the ports.
 */
export async function startMaterializer(options: MaterializerAppOptions): Promise<NestFastifyApplication> {
  const { config } = options;
  // Before anything opens: a key that cannot be checked stops the app here.
  const auth = new ApiKeyVerifier(
    options.auth ?? { apiKeys: config.serving?.apiKeys ?? [], browserOrigins: uiBrowserOrigins(config.apps) },
  );
  const runtime = await ProjectRuntime.open(config);
  try {
    const store = await runtime.onlineStore();
    const { follower } = runtime.registry();
    const metrics = createMetricsRegistry('materializer');
    const materializer = new Materializer({
      ...options.tuning,
      project: config.project,
      log: runtime.log,
      schemas: runtime.schemas,
      store,
      follower,
      metrics: new MaterializerMetrics(metrics),
    });
    // Every instance needs the whole registry (one partition), so the follower never shares a group;
    // a unique one also spares a restarted process the dead member's session timeout.
    await follower.start(`${config.project}.materializer.registry.${randomUUID()}`);
    await materializer.start();
    const app = await NestFactory.create<NestFastifyApplication>(
      {
        module: MaterializerAppRoot,
        imports: [
          MaterializerAppModule.forParts({
            project: config.project,
            materializer,
            follower,
            store,
            log: runtime.log,
            metrics,
          }),
          ShutdownHookModule.onShutdown(async () => {
            await materializer.stop();
            await follower.stop();
            await runtime.close();
          }),
        ],
      },
      guardedFastifyAdapter(auth),
      { logger: options.logger ?? ['error', 'warn', 'log'] },
    );
    app.enableShutdownHooks();
    const listen = appListenAddress(config.apps, 'materializer', DEFAULT_MATERIALIZER_PORT, {});
    await app.listen(options.port ?? listen.port, options.host ?? listen.host);
    return app;
  } catch (error) {
    await runtime.close();
    throw error;
  }
}

if (require.main === module) {
  runAppMain(
    'materializer',
    (config) =>
      startMaterializer({
        config,
        ...appListenAddress(config.apps, 'materializer', DEFAULT_MATERIALIZER_PORT),
        // A process that replaces a killed one can take a group of its own rather than wait out the dead
        // member's session timeout: start offsets come from the checkpoint, not from the group.
        ...(process.env.FEATURELOG_MATERIALIZER_GROUP_ID
          ? { tuning: { groupId: process.env.FEATURELOG_MATERIALIZER_GROUP_ID } }
          : {}),
      }),
    async (app) => `listening on ${await app.getUrl()}`,
  );
}
