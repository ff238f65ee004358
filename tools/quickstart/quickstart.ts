/**
 * `npm run quickstart`: the whole featurelog loop on this machine, with nothing but the project
 * installed — a feature repo, every app in one `featurelog dev` process on the embedded stores,
 * definitions applied, sample history ingested, live rows pushed, online features read, and a
 * point-in-time training set exported. The repo is left in a temp folder to explore afterwards.
 */
import { join } from 'node:path';
import { DemoStepError, REPO_ROOT, runDemo } from './demo';

/**
 * The `featurelog` bin of this checkout on its own Node (the npm registry's, a dev dependency): outside
 * the checkout `npx featurelog` would ask the registry for a package of that name.
 */
const featurelogCommand = `${join(REPO_ROOT, 'node_modules', '.bin', 'node')} ${join(REPO_ROOT, 'bin', 'featurelog.js')}`;

async function main(): Promise<number> {
  process.stdout.write('featurelog quickstart: the embedded single-machine default (no Kafka, no Redis)\n');
  try {
    const result = await runDemo({ print: (line) => process.stdout.write(`${line}\n`) });
    const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    process.stdout.write(
      [
        '',
        `Done in ${seconds(result.totalMs)}:`,
        ...result.timings.map(({ step, ms }) => `  ${seconds(ms).padStart(7)}  ${step.split(':')[0]}`),
        '',
        `The feature repo is ${result.repoDir}. To go on from there with this checkout's featurelog command:`,
        `  alias featurelog='${featurelogCommand}'`,
        `  cd ${result.repoDir}`,
        '  featurelog dev            # every app in one process (Ctrl-C stops it)',
        '  featurelog get-online --service driver_activity --entity driver_id=1001',
        '  featurelog ls feature-views; featurelog history feature_view driver_hourly_stats',
        '(In a project that depends on featurelog, `npx featurelog` is that command; see the README.)',
        'To run on Kafka, a schema registry and Redis: switch the blocks of featurelog.yaml (nothing else changes).',
        '',
      ].join('\n'),
    );
    return 0;
  } catch (error) {
    process.stderr.write(
      `\nquickstart failed: ${error instanceof DemoStepError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    return 1;
  }
}

void main().then((code) => {
  process.exitCode = code;
});
