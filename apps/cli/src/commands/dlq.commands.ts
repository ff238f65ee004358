import type { Command } from 'commander';
import type { CommonOptions, FilterOptions } from './dlq.actions';

const withFilterOptions = (command: Command) =>
  command
    .option('--view <name>', 'only records of the topic this feature view reads')
    .option('--reason <text>', 'an error code (e.g. SCHEMA_NOT_FOUND), or words of the error reason')
    .option('--since <time>', 'dead-lettered at or after (ISO 8601; no zone means UTC)')
    .option('--until <time>', 'dead-lettered at or before')
    .option('--status <status>', 'dead, redriving or redriven');

/**
 * `featurelog dlq ls | show | redrive`: the records consumers refused, in `<project>.dlq`, read from the
 * log (also through `featurelog dev`'s log bridge) by the same DeadLetterQueue as the jobs app's /dlq.
 */
export function registerDlqCommands(program: Command): void {
  const dlq = program
    .command('dlq')
    .description('the dead-letter queue: records consumers refused, why, and redriving them once fixed');

  withFilterOptions(dlq.command('ls').description('dead letters, oldest first'))
    .option('--limit <n>', 'at most this many', '50')
    .option('--skip <n>', 'skip this many first (paging)', '0')
    .action(async (options: CommonOptions & FilterOptions & { limit: string; skip: string }) =>
      (await import('./dlq.actions')).dlqLs(options),
    );

  dlq
    .command('show')
    .description('one dead letter: its error, headers, body (when decodable) and whether a redrive would take it now')
    .argument('<position>', '<dlq topic>/<partition>/<offset> (the entry), or the source record’s position')
    .action(async (position: string, options: CommonOptions) =>
      (await import('./dlq.actions')).dlqShow(position, options),
    );

  withFilterOptions(
    dlq
      .command('redrive')
      .description(
        're-append dead letters to their source topic (original key and bytes, headers recording the redrive), ' +
          'once the cause is fixed; records the consumers would still refuse are left and counted as failing again',
      ),
  )
    .argument('[positions...]', 'entries or source records to redrive (else those matching the filters)')
    .option('--all', 'every dead letter not yet redriven', false)
    .option('--dry-run', 'say what would happen; change nothing', false)
    .option('--force', 'also redrive entries an earlier redrive claimed (one that crashed before completing)', false)
    .action(
      async (
        positions: string[],
        options: CommonOptions & FilterOptions & { all: boolean; dryRun: boolean; force: boolean },
      ) => (await import('./dlq.actions')).dlqRedrive(positions, options),
    );
}
