/**
 * The compactor as a child process for crash tests: `compactorApp` on FEATURELOG_REPO with
 * FEATURELOG_COMPACTOR_* tuning. FEATURELOG_TEST_SELF_KILL=<hook>:<probability> makes the process
 * SIGKILL itself at that step (segmentWritten, beforeAnnounce, mergeWritten, mergeAnnounced), so the
 * kills land exactly in the windows that matter, not only wherever a timer happens to fall.
 */
import { resolve } from 'node:path';
import { loadProjectConfig } from '@featurelog/config';
import type { CompactorHooks } from '@featurelog/compactor';
import { startApp } from '@featurelog/runtime';
import { compactorApp, tuningFromEnv } from './compactor-app';

function selfKillHooks(spec: string | undefined): CompactorHooks {
  if (!spec) return {};
  const [hook, probability = '1'] = spec.split(':');
  const maybeDie = () => {
    if (Math.random() < Number(probability)) process.kill(process.pid, 'SIGKILL');
  };
  return { [hook as keyof CompactorHooks]: maybeDie };
}

async function main(): Promise<void> {
  const config = await loadProjectConfig(resolve(process.env.FEATURELOG_REPO ?? '.'));
  const running = await startApp(compactorApp, config, {
    tuning: {
      ...tuningFromEnv(),
      tickMs: 50,
      initialRetryMs: 20,
      maxRetryMs: 500,
      hooks: selfKillHooks(process.env.FEATURELOG_TEST_SELF_KILL),
    },
    port: Number(process.env.FEATURELOG_COMPACTOR_PORT ?? 0),
  });
  process.once('SIGTERM', () => void running.close().then(() => process.exit(0)));
  process.stdout.write('compactor started\n');
}

main().catch((error: unknown) => {
  process.stderr.write(`compactor child: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
