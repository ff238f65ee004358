import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { NestFactory } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { guardedFastifyAdapter } from '@featurelog/auth';
import { Materializer, MaterializerMetrics, type MaterializerOptions } from '@featurelog/materializer';
import { logAt, scopedLogger } from '@featurelog/domain';
import { createMetricsRegistry, nestLoggerService } from '@featurelog/observability';
import {
  appKeys,
  appLogger,
  listenAddress,
  listenNestApp,
  type AppSettings,
  type FeaturelogApp,
  type ProjectRuntime,
  type RunningApp,
} from '@featurelog/runtime';
import { MaterializerAppModule } from './materializer.module';

export const DEFAULT_MATERIALIZER_PORT = 6571;

export interface MaterializerAppSettings extends AppSettings {
  /** Tuning passed to the Materializer (batch sizes, intervals, backoff). */
  tuning?: Omit<MaterializerOptions, 'project' | 'log' | 'schemas' | 'store' | 'follower' | 'metrics' | 'logger'>;
}

/**
 * The materializer app: follows the registry, projects every online view's feature topic into the
 * online store (see Materializer), and serves /health and /metrics.
 */
export const materializerApp: FeaturelogApp<MaterializerAppSettings> = {
  name: 'materializer',
  defaultPort: DEFAULT_MATERIALIZER_PORT,
  async create(runtime: ProjectRuntime, settings: MaterializerAppSettings = {}): Promise<RunningApp> {
    const { config } = runtime;
    // Before anything opens: a key that cannot be checked stops the app here.
    const auth = appKeys(config, settings);
    const logger = appLogger(settings);
    const scoped = scopedLogger(logger, 'materializer');
    const store = await runtime.onlineStore();
    const { follower } = runtime.registry();
    const metrics = createMetricsRegistry('materializer');
    const materializer = new Materializer({
      ...settings.tuning,
      project: config.project,
      log: runtime.log,
      schemas: runtime.schemas,
      store,
      follower,
      metrics: new MaterializerMetrics(metrics),
      logger: (level, message) => logAt(scoped, level, message),
    });
    const stop = async () => {
      await materializer.stop();
      await follower.stop();
    };
    try {
      // Every instance needs the whole registry (one partition), so the follower never shares a group;
      // a unique one also spares a restarted process the dead member's session timeout.
      await follower.start(`${config.project}.materializer.registry.${randomUUID()}`);
      await materializer.start();
      const app = await NestFactory.create<NestFastifyApplication>(
        MaterializerAppModule.forParts({
          project: config.project,
          materializer,
          follower,
          store,
          log: runtime.log,
          metrics,
        }),
        guardedFastifyAdapter(auth),
        { logger: nestLoggerService(logger) },
      );
      return await listenNestApp('materializer', app, listenAddress(materializerApp, runtime, settings), {
        stopWork: stop,
      });
    } catch (error) {
      await stop().catch(() => undefined);
      throw error;
    }
  },
};
