import 'reflect-metadata';
import { Command, CommanderError } from 'commander';
import { FeaturelogError } from '@featurelog/domain';
import { registerRegistryCommands } from './commands/registry.commands';
import { registerIngestCommands } from './commands/ingest.commands';
import { registerJobsCommands } from './commands/jobs.commands';
import { registerDevCommands } from './commands/dev.commands';
import { registerOnlineCommands } from './commands/online.commands';
import { renderError } from './output';
import { API_KEY_ENV, API_KEY_FILE_ENV } from './api-key';

/** The `featurelog` command. Errors print their code and message, never a stack, and exit 1. */
export function buildProgram(): Command {
  const program = new Command('featurelog')
    .description('featurelog: an event-sourced feature store')
    .option('--repo <dir>', 'the feature repo (folder with featurelog.yaml)', process.env.FEATURELOG_REPO ?? '.')
    .option('--json', 'print JSON instead of tables', false)
    // No default from the environment here: commander would print it in --help.
    .option(
      '--api-key-file <file>',
      `file holding the API key for the apps this command calls (or ${API_KEY_FILE_ENV}; the key itself: ${API_KEY_ENV})`,
    )
    .option('--api-key <key>', `the API key itself; it lands in shell history: prefer ${API_KEY_ENV} or --api-key-file`)
    .showHelpAfterError()
    .exitOverride();
  registerRegistryCommands(program);
  registerIngestCommands(program);
  registerJobsCommands(program);
  registerDevCommands(program);
  registerOnlineCommands(program);
  // Global options reach every command's action as part of its options object.
  for (const command of program.commands) {
    command.hook('preAction', (_this, action) => {
      Object.assign(action.opts(), { ...program.opts(), ...action.opts() });
    });
  }
  program.hook('preAction', () => {
    if (program.opts().apiKey !== undefined) {
      process.stderr.write(
        `featurelog: --api-key puts the key in your shell history and the process list; prefer ${API_KEY_ENV} or --api-key-file\n`,
      );
    }
  });
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    if (error instanceof FeaturelogError) {
      process.stderr.write(`${renderError(error, argv.includes('--json'))}\n`);
      return 1;
    }
    process.stderr.write(
      `featurelog: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    return 1;
  }
}

if (require.main === module) {
  void main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
