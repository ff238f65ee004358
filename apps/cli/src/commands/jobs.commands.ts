import type { Command } from 'commander';
import type { BackfillCommandOptions, ExportCommandOptions } from './jobs.actions';

const DEFAULT_PICKUP_TIMEOUT_SECONDS = '30';

/** Declares `export` and `backfill`; their actions load jobs.actions only when they run (see main.ts). */
export function registerJobsCommands(program: Command): void {
  const jobOptions = (command: Command) =>
    command
      .option('--local', 'run the job in this process instead of submitting it to the jobs app', false)
      .option(
        '--pickup-timeout <seconds>',
        'give up when no jobs app reports on the job this soon, cancelling it so it never runs later (0 waits forever)',
        DEFAULT_PICKUP_TIMEOUT_SECONDS,
      );

  jobOptions(
    program
      .command('export')
      .description(
        'build a point-in-time training set: for each entity row (join keys, event_timestamp, extra columns), ' +
          'the feature values as of its timestamp, replayed from offline segments and the log tail as the log ' +
          'stood when the export began. Submitted to the jobs app through <project>.jobs unless --local.',
      )
      .requiredOption('--entities <file>', 'entity rows: .parquet or .csv with the join keys and event_timestamp')
      .option('--features <refs...>', 'view:feature or view:* (repeat or separate with commas)')
      .option('--service <name>', 'a feature service instead of --features')
      .requiredOption('--output <file>', 'the Parquet file to write (.parquet; other formats are refused)')
      .option('--full-feature-names', 'name feature columns view__feature', false)
      .option(
        '--as-served',
        'only rows the log had by each entity row’s time (what online serving could have seen)',
        false,
      ),
  ).action(async (options: ExportCommandOptions) => (await import('./jobs.actions')).exportTrainingSet(options));

  jobOptions(
    program
      .command('backfill')
      .description(
        'replay a view’s history into the online store (last-write-wins: safe while ingestion continues). ' +
          'Submitted to the jobs app through <project>.jobs unless --local.',
      )
      .argument('<view>', 'feature view to backfill')
      .option('--from <time>', 'only rows with event_timestamp at or after this (ISO 8601; no zone means UTC)')
      .option('--to <time>', 'only rows with event_timestamp at or before this')
      .option('--source <source>', 'segments (plus the uncompacted log tail) or log (all of it)', 'segments'),
  ).action(async (view: string, options: BackfillCommandOptions) =>
    (await import('./jobs.actions')).backfill(view, options),
  );
}
