import { hostname } from 'node:os';
import { createMetricsRegistry } from '@featurelog/observability';
import { FeatureProducer } from '@featurelog/producer';
import { featurelogApp, type AppSettings } from '@featurelog/runtime';
import type { SubscriptionLimits } from '@featurelog/serving';
import { createServingApp, DEFAULT_SERVING_PORT } from './serving-app';

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
