import 'reflect-metadata';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ConnectorReconciler, RegistryFollower, RegistryStateStore } from '@featurelog/registry';
import { featurelogApp, type AppSettings } from '@featurelog/runtime';
import { RegistryAppModule } from './registry.module';
import { RegistryFoldProgress, type RegistryRuntime } from './registry.runtime';

export const DEFAULT_REGISTRY_PORT = 6570;

export interface RegistryAppSettings extends AppSettings {
  /** classic-level directory of the folded registry; default `<repo>/.featurelog/registry`. */
  statePath?: string;
  /** Events folded (and checkpointed in one LevelDB batch) at a time. */
  foldBatch?: number;
  /** Wait between attempts when the log cannot be read at start. */
  retryDelayMs?: number;
  /** How often the connector reconciler compares the Connect workers with the registry, besides on every change. */
  connectorIntervalMs?: number;
}

/**
 * The registry app: folds `<project>.registry` into classic-level (resuming from its checkpoint, or
 * rebuilding from offset 0 when the state is gone), follows the log live, and serves the REST API.
 * It listens at once; the registry itself is served once the fold has caught up (503 before).
 */
export const registryApp = featurelogApp<RegistryAppSettings>({
  name: 'registry',
  defaultPort: DEFAULT_REGISTRY_PORT,
  async start({ runtime: project, config, settings, nest, logger }) {
    const { foldBatch = 5_000, retryDelayMs = 1_000 } = settings;
    const store = await RegistryStateStore.open(settings.statePath ?? join(config.repoDir, '.featurelog', 'registry'));
    const loaded = await store.load();
    const follower = new RegistryFollower(
      { log: project.log, codec: project.registryCodec, project: config.project, maxBatch: foldBatch },
      loaded.state,
      loaded.unreadable,
    );
    store.attach(follower);
    const fold = new RegistryFoldProgress(follower);
    // Connectors are registry-owned infrastructure, like topics and schemas: kept here, from the state
    // this app already folds, rather than by another follower of the same log.
    const connectors = config.connect
      ? new ConnectorReconciler(project.connectWorkers(), {
          ...(settings.connectorIntervalMs !== undefined && { intervalMs: settings.connectorIntervalMs }),
          log: (message) => logger.log(message),
        })
      : undefined;
    if (connectors) follower.onChange((state) => connectors.update(state));
    let closing = false;
    let following: Promise<void> = Promise.resolve();

    const runtime: RegistryRuntime = {
      follower,
      applier: project.registry(follower).applier,
      fold,
      ...(connectors && { connectors }),
      checkLog: async () => {
        if (follower.followError) throw follower.followError;
        await project.log.describeTopic(follower.topic);
      },
      close: async () => {
        closing = true;
        await following;
        await connectors?.stop();
        await follower.stop();
        await store.close();
      },
    };
    const app = await nest(RegistryAppModule.forRuntime(runtime)).catch(async (error: unknown) => {
      await runtime.close();
      throw error;
    });
    // The fold runs beside the HTTP server, which answers /health and /metrics during a long cold start.
    following = (async () => {
      for (let attempt = 0; !closing; attempt++) {
        try {
          // The registry topic is the app's own: created (as declared in topics/) so it can be followed
          // before the first apply.
          const declared = project.topics.project.find((spec) => spec.name === follower.topic);
          if (declared) await project.log.ensureTopic(declared);
          fold.target((await project.log.endOffsets(follower.topic)).get(0) ?? 0);
          await follower.catchUp();
          fold.done();
          if (connectors) {
            connectors.start();
            connectors.update(follower.state);
          }
          await follower.start(`${config.project}.registry-app`);
          return;
        } catch (error) {
          fold.failed(error);
          await delay(Math.min(retryDelayMs * 2 ** attempt, 30_000));
        }
      }
    })();
    return { app, stopWork: () => runtime.close() };
  },
});
