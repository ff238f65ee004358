import 'reflect-metadata';
import { Command, CommanderError } from 'commander';
import { FeaturelogError } from '@featurelog/domain';
import { registerRegistryCommands } from './commands/registry.commands';
import { registerIngestCommands } from './commands/ingest.commands';
import { registerJobsCommands } from './commands/jobs.commands';
import { registerJobControlCommands } from './commands/job-control.commands';
import { registerDlqCommands } from './commands/dlq.commands';
import { registerDevCommands } from './commands/dev.commands';
import { registerOnlineCommands } from './commands/online.commands';
import { renderError } from './output';

/** The `featurelog` command. Errors print their code and message, never a stack, and exit 1. */
export function buildProgram(): Command {
  const program = new Command('featurelog')
    .description('featurelog: an event-sourced feature store')
    .option('--repo <dir>', 'the feature repo (folder with featurelog.yaml)', process.env.FEATURELOG_REPO ?? '.')
    .option('--json', 'print JSON instead of tables', false)
    .showHelpAfterError()
    .exitOverride();
  registerRegistryCommands(program);
  registerIngestCommands(program);
  registerJobsCommands(program);
  registerJobControlCommands(program);
  registerDlqCommands(program);
  registerDevCommands(program);
  registerOnlineCommands(program);
  // Global options reach every command's action as part of its options object.
  for (const command of program.commands) {
    command.hook('preAction', (_this, action) => {
      Object.assign(action.opts(), { ...program.opts(), ...action.opts() });
    });
  }
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
