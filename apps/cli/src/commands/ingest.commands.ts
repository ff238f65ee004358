import type { Command } from 'commander';
import { INGEST_ROWS_REJECTED_EXIT_CODE } from '../exit-codes';
import type { IngestOptions } from './ingest.actions';

export { INGEST_ROWS_REJECTED_EXIT_CODE };

/** Declares `ingest`; its action loads ingest.actions only when it runs (see main.ts). */
export function registerIngestCommands(program: Command): void {
  program
    .command('ingest')
    .description(
      'validate every row of a CSV or Parquet file and produce it to the view’s topic. All or nothing by default: ' +
        'if any row is invalid nothing is produced and every bad row is reported (row number, CSV line, reasons). ' +
        `With --skip-invalid the good rows are produced, the bad ones rejected, and the exit code is ${INGEST_ROWS_REJECTED_EXIT_CODE}.`,
    )
    .argument('<view>', 'feature view to produce to')
    .argument('[file]', 'a .csv or .parquet file; defaults to the path of the view’s file data source')
    .option('--skip-invalid', 'produce the valid rows and reject the invalid ones instead of refusing the file', false)
    .option(
      '--rejects <file>',
      'where every rejected row goes, as JSON lines (default: <file name>.rejects.jsonl here)',
    )
    .option('--batch-size <rows>', 'rows per read batch and per append', '1000')
    .action(async (view: string, file: string | undefined, options: IngestOptions) =>
      (await import('./ingest.actions')).ingest(view, file, options),
    );
}
