import { hostname } from 'node:os';

import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { appListenAddress, uiBrowserOrigins, type ProjectConfig } from '@featurelog/config';
import { createMetricsRegistry } from '@featurelog/observability';
import { FeatureProducer } from '@featurelog/producer';
import { ProjectRuntime, runAppMain } from '@featurelog/runtime';
import type { ApiKeysConfig } from '@featurelog/auth';
import type { SubscriptionLimits } from '@featurelog/serving';
import { createServingApp, DEFAULT_SERVING_PORT } from './serving-app';

export { createServingApp, DEFAULT_SERVING_PORT, type ServingAppOptions } from './serving-app';

export interface StartServingOptions {
  config: ProjectConfig;
  /** Default DEFAULT_SERVING_PORT (6574); 0 picks a free one. */
  port?: number;
  host?: string;
  /** Overrides `serving.apiKeys` of featurelog.yaml (e.g. `{}`: no authentication, for local use). */
  auth?: ApiKeysConfig;
  /** POST /push for keys with the `push` scope (default true). */
  push?: boolean;
  subscriptions?: SubscriptionLimits;
  /** Nest's own log lines; `featurelog dev` passes false. */
  logger?: false | Array<'error' | 'warn' | 'log'>;
}

/**
 * The serving app over the ports featurelog.yaml names (ProjectRuntime): POST /get-online-features,
 * GET /subscribe, POST /push, /docs, /health and /metrics, with the API keys of its `serving`
 * section. Runs standalone (main) or in-process (`featurelog dev`); closing the app stops its
 * subscriptions and its registry follower, then releases the ports.
 */
export async function startServing(options: StartServingOptions): Promise<NestFastifyApplication> {
  const { config } = options;
  const runtime = await ProjectRuntime.open(config);
  const { follower } = runtime.registry();
  const release = async () => {
    await follower.stop();
    await runtime.close();
  };
  let app: NestFastifyApplication | undefined;
  try {
    // One registry partition: each serving instance follows it whole, in a group of its own.
    await follower.start(`${config.project}.serving.registry.${hostname()}.${process.pid}`);
    const producer =
      options.push === false
        ? undefined
        : new FeatureProducer({
            log: runtime.log,
            schemas: runtime.schemas,
            project: config.project,
            definitions: follower,
          });
    app = await createServingApp({
      project: config.project,
      onlineStore: await runtime.onlineStore(),
      log: runtime.log,
      follower,
      schemaRegistry: runtime.schemas,
      producer,
      auth: options.auth ?? { apiKeys: config.serving?.apiKeys ?? [], browserOrigins: uiBrowserOrigins(config.apps) },
      maxEntityRows: config.serving?.maxEntityRows,
      subscriptions: options.subscriptions,
      metrics: createMetricsRegistry('serving'),
      logger: options.logger ?? ['error', 'warn', 'log'],
      onClose: release,
    });
    const listen = appListenAddress(config.apps, 'serving', DEFAULT_SERVING_PORT, {});
    await app.listen(options.port ?? listen.port, options.host ?? listen.host);
    return app;
  } catch (error) {
    // Closing the app releases the ports too (onClose).
    if (app !== undefined) await app.close().catch(() => undefined);
    else await release().catch(() => undefined);
    throw error;
  }
}

if (require.main === module) {
  runAppMain(
    'serving',
    (config) => startServing({ config, ...appListenAddress(config.apps, 'serving', DEFAULT_SERVING_PORT) }),
    async (app, config) => {
      // Key names and scopes only: the keys themselves are never printed.
      const keys = config.serving?.apiKeys ?? [];
      const access =
        keys.length === 0
          ? 'no API keys configured: every request is accepted'
          : `API keys: ${keys.map((key) => `${key.name} (${key.scopes.join(',')})`).join(', ')}`;
      return `listening on ${await app.getUrl()} (docs at /docs); ${access}`;
    },
  );
}
