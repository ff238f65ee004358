import { Command, CommanderError } from 'commander';
import { registerRegistryCommands } from './commands/registry.commands';
import { registerIngestCommands } from './commands/ingest.commands';
import { registerJobsCommands } from './commands/jobs.commands';
import { registerJobControlCommands } from './commands/job-control.commands';
import { registerDlqCommands } from './commands/dlq.commands';
import { registerDevCommands } from './commands/dev.commands';
import { registerOnlineCommands } from './commands/online.commands';
import { registerConnectorCommands } from './commands/connector.commands';
import { packageVersion } from './package-files';
import { API_KEY_ENV, API_KEY_FILE_ENV } from './api-key-env';

/**
 * The `featurelog` command. Errors print their code and message, never a stack, and exit 1.
 *
 * Start-up stays cheap: this file and the `*.commands.ts` it imports load commander and nothing else
 * (no lib, no driver, no NestJS), so `--help`, `--version` and a usage error cost what Node's own start
 * costs. Each command's `*.commands.ts` declares it (arguments, options, help) and its action
 * `await import()`s the command's `*.actions.ts`, which holds the work and its heavy imports; only the
 * command that runs loads them. main.unit.spec.ts fails if `--help` loads anything more.
 */
export function buildProgram(): Command {
  const program = new Command('featurelog')
    .description('featurelog: an event-sourced feature store')
    .version(packageVersion(), '-V, --version', 'print the featurelog version')
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
  registerJobControlCommands(program);
  registerDlqCommands(program);
  registerDevCommands(program);
  registerOnlineCommands(program);
  registerConnectorCommands(program);
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
    // Loaded only now: the action that threw has loaded them already, so this costs nothing more.
    const [{ FeaturelogError }, { renderError }] = await Promise.all([
      import('@featurelog/domain'),
      import('./output'),
    ]);
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

/** Runs the command line of this process: the `featurelog` bin, or this file run directly from its source. */
export function run(): void {
  // kafkajs 2.2.4 (its final release) arms a negative timer after every broker response on Node >= 23;
  // Node then warns and uses 1 ms, which is what kafkajs meant. The warning is noise to a CLI user.
  const emitWarning = process.emitWarning.bind(process);
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const options = rest[0] as string | { type?: string } | undefined;
    const type = typeof options === 'string' ? options : options?.type;
    if (type === 'TimeoutNegativeWarning') return;
    return (emitWarning as (...args: unknown[]) => void)(warning, ...rest);
  }) as typeof process.emitWarning;
  void main(process.argv).then((code) => {
    process.exitCode = code;
  });
}

if (require.main === module) run();
