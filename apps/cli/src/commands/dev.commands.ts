import type { Command } from 'commander';
import type { DevOptions } from './dev.actions';

/** Declares `dev`; its action loads dev.actions (NestJS and every app) only when it runs (see main.ts). */
export function registerDevCommands(program: Command): void {
  program
    .command('dev')
    .description(
      'run the registry, materializer, compactor, jobs and serving apps in one process, on the ' +
        'embedded stores or on the services featurelog.yaml names; other featurelog commands on this repo ' +
        'go through it while it runs. Stops cleanly on Ctrl-C (SIGINT) or SIGTERM.',
    )
    .option(
      '--host <host>',
      'interface every API listens on (default: apps.<app>.host of featurelog.yaml, else 127.0.0.1)',
    )
    .option(
      '--port-offset <n>',
      'added to every default port (serving 6574, dev 6569, registry 6570, …); apps.<app>.port of featurelog.yaml and FEATURELOG_<APP>_PORT win',
      '0',
    )
    .option('--any-ports', 'let the system choose free ports (they are printed and written to .featurelog/dev.json)')
    .action(async (options: DevOptions) => (await import('./dev.actions')).dev(options));
}
