/**
 * `npm run quickstart`: the whole featurelog loop on this machine, with nothing but the project
 * installed — a feature repo, every app in one `featurelog dev` process on the embedded stores,
 * definitions applied, sample history ingested, live rows pushed, online features read, and a
 * point-in-time training set exported. The repo is left in a temp folder to explore afterwards.
 */
import { DemoStepError, runDemo } from './demo';

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
        `The feature repo is ${result.repoDir}. To go on from there:`,
        `  cd ${result.repoDir}`,
        '  npx featurelog dev            # every app in one process (Ctrl-C stops it)',
        '  npx featurelog get-online --service driver_activity --entity driver_id=1001',
        '  npx featurelog ls feature-views; npx featurelog history feature_view driver_hourly_stats',
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
