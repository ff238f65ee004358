import type { Command } from 'commander';
import type { GetOnlineOptions } from './online.actions';

/** Declares `get-online`; its action loads online.actions only when it runs (see main.ts). */
export function registerOnlineCommands(program: Command): void {
  program
    .command('get-online')
    .description(
      'print the online features of some entities: through the serving API of `featurelog dev` when it runs ' +
        'on this repo, otherwise straight from the online store',
    )
    .option('--features <refs>', 'comma-separated view:feature references (view:* for every feature of a view)')
    .option('--service <name>', 'a feature service')
    .option(
      '--entity <key=value,…>',
      'one entity row, e.g. driver_id=1001 (repeat for more rows; several join keys: a=1,b=2)',
      (value: string, rows: string[]) => [...rows, value],
      [],
    )
    .option('--full-feature-names', 'name columns view__feature', false)
    .action(async (options: GetOnlineOptions) => (await import('./online.actions')).getOnline(options));
}
