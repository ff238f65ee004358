import 'reflect-metadata';
import { join, resolve } from 'node:path';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { loadProjectConfig, type ProjectConfig } from '@featurelog/config';
import { RegistryFollower, RegistryStateStore } from '@featurelog/registry';
import { ProjectRuntime } from '@featurelog/runtime';
import { RegistryAppModule } from './registry.module';
import type { RegistryRuntime } from './registry.runtime';

export const DEFAULT_REGISTRY_PORT = 6570;

export interface RegistryAppOptions {
  config: ProjectConfig;
  /** classic-level directory of the folded registry; default `<repo>/.featurelog/registry`. */
  statePath?: string;
  port?: number;
  host?: string;
}

/**
 * The registry app: folds `<project>.registry` into classic-level (resuming from its checkpoint, or
 * rebuilding from offset 0 when the state is gone), follows the log live, and serves the REST API.
 */
export async function startRegistryApp(options: RegistryAppOptions): Promise<NestFastifyApplication> {
  const { config } = options;
  const project = await ProjectRuntime.open(config);
  const store = await RegistryStateStore.open(options.statePath ?? join(config.repoDir, '.featurelog', 'registry'));
  const loaded = await store.load();
  const follower = new RegistryFollower(
    { log: project.log, codec: project.registryCodec, project: config.project },
    loaded.state,
    loaded.unreadable,
  );
  store.attach(follower);
  const registry = project.registry(follower);
  await follower.start(`${config.project}.registry-app`);

  const runtime: RegistryRuntime = {
    follower,
    applier: registry.applier,
    close: async () => {
      await follower.stop();
      await store.close();
      await project.close();
    },
  };
  const app = await NestFactory.create<NestFastifyApplication>(
    RegistryAppModule.forRuntime(runtime),
    new FastifyAdapter(),
    {
      logger: ['error', 'warn', 'log'],
    },
  );
  app.enableShutdownHooks();
  const close = app.close.bind(app);
  app.close = async () => {
    await close();
    await runtime.close();
  };
  await app.listen(options.port ?? DEFAULT_REGISTRY_PORT, options.host ?? '127.0.0.1');
  return app;
}

if (require.main === module) {
  const repo = resolve(process.env.FEATURELOG_REPO ?? '.');
  loadProjectConfig(repo)
    .then((config) =>
      startRegistryApp({
        config,
        ...(process.env.FEATURELOG_REGISTRY_STATE ? { statePath: process.env.FEATURELOG_REGISTRY_STATE } : {}),
        port: Number(process.env.FEATURELOG_REGISTRY_PORT ?? DEFAULT_REGISTRY_PORT),
      }),
    )
    .then(async (app) => process.stdout.write(`featurelog registry listening on ${await app.getUrl()}\n`))
    .catch((error: unknown) => {
      process.stderr.write(`featurelog registry: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    });
}
