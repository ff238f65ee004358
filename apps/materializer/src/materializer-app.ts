import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { scopedLogger } from '@featurelog/domain';
import { Materializer, MaterializerMetrics, type MaterializerOptions } from '@featurelog/materializer';
import { createMetricsRegistry } from '@featurelog/observability';
import { featurelogApp, type AppSettings } from '@featurelog/runtime';
import { MaterializerAppModule } from './materializer.module';
import { ProjectionMetrics } from '@featurelog/projection';

export const DEFAULT_MATERIALIZER_PORT = 6571;

export interface MaterializerAppSettings extends AppSettings {
  /** Tuning passed to the Materializer (batch sizes, intervals, backoff). */
  tuning?: Omit<MaterializerOptions, 'project' | 'log' | 'schemas' | 'store' | 'follower' | 'metrics' | 'logger'>;
}

/**
 * The materializer app: follows the registry, projects every online view's feature topic into the
 * online store (see Materializer), and serves /health and /metrics.
 */
export const materializerApp = featurelogApp<MaterializerAppSettings>({
  name: 'materializer',
  defaultPort: DEFAULT_MATERIALIZER_PORT,
  async start({ runtime, config, settings, logger, nest }) {
    const store = await runtime.onlineStore();
    const { follower } = runtime.registry();
    const metrics = createMetricsRegistry('materializer');
    const scoped = scopedLogger(logger, 'materializer');
    const materializer = new Materializer({
      ...settings.tuning,
      project: config.project,
      log: runtime.log,
      schemas: runtime.schemas,
      store,
      follower,
      metrics: new MaterializerMetrics(metrics),
      logger: scoped,
    });
    const stopWork = async () => {
      await materializer.stop();
      await follower.stop();
    };
    try {
      // Every instance needs the whole registry (one partition), so the follower never shares a group;
      // a unique one also spares a restarted process the dead member's session timeout.
      await follower.start(`${config.project}.materializer.registry.${randomUUID()}`);
      new ProjectionMetrics(metrics).attach(materializer.runtime);
      await materializer.start();
      const parts = { project: config.project, materializer, follower, store, log: runtime.log, metrics };
      return { app: await nest(MaterializerAppModule.forParts(parts)), stopWork };
    } catch (error) {
      await stopWork().catch(() => undefined);
      throw error;
    }
  },
});
