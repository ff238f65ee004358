import { resolve } from 'node:path';
import { loadProjectConfig, type ProjectConfig } from '@featurelog/config';

/**
 * The command-line entry of an app: reads featurelog.yaml from FEATURELOG_REPO (default the working
 * directory), starts the app, prints what `started` says, and exits 1 with the reason when it cannot
 * start. Every app's main is this, so they fail and report the same way.
 */
export function runAppMain<T>(
  name: string,
  start: (config: ProjectConfig) => Promise<T>,
  started: (app: T, config: ProjectConfig) => Promise<string>,
): void {
  const repo = resolve(process.env.FEATURELOG_REPO ?? '.');
  loadProjectConfig(repo)
    .then(async (config) => process.stdout.write(`featurelog ${name} ${await started(await start(config), config)}\n`))
    .catch((error: unknown) => {
      process.stderr.write(`featurelog ${name}: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    });
}
