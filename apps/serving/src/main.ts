import { DEFAULT_SERVING_PORT } from './serving-app';

export { createServingApp, DEFAULT_SERVING_PORT, type ServingAppOptions } from './serving-app';

/**
 * Composition root. To be finished with featurelog.yaml (libs/config): build the online store,
 * the log, the schema registry and a started RegistryFollower, then
 *   const app = await createServingApp({ project, onlineStore, log, follower, schemaRegistry, auth, metrics });
 *   await app.listen(config.serving?.port ?? DEFAULT_SERVING_PORT, host);
 */
async function main(): Promise<void> {
  throw new Error(`serving: configuration loading is not wired yet (default port ${DEFAULT_SERVING_PORT})`);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
