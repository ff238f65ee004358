import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { PLAN_BREAKING_EXIT_CODE, PLAN_HAS_CHANGES_EXIT_CODE } from '../exit-codes';
import type { ApplyOptions, CommonOptions, InitOptions, PlanOptions } from './registry.actions';

/** Declares the registry commands; each action loads registry.actions only when it runs (see main.ts). */
export function registerRegistryCommands(program: Command): void {
  program
    .command('init')
    .description(
      'scaffold a feature repo: the example (drivers with hourly stats, a feature service, sample data), ' +
        'with --example cdc a PostgreSQL table captured by Debezium, or with --empty only featurelog.yaml ' +
        'on the embedded stores',
    )
    .argument('[dir]', 'folder to create', 'feature_repo')
    .option('--empty', 'write featurelog.yaml only, no example definitions or data', false)
    .option(
      '--example <name>',
      'drivers (embedded stores, sample history) or cdc (PostgreSQL → Debezium → Kafka; see its README.md)',
      'drivers',
    )
    .action(async (dir: string, options: InitOptions) => (await import('./registry.actions')).init(dir, options));

  program
    .command('plan')
    .description(
      `show what apply would change; exit code ${PLAN_HAS_CHANGES_EXIT_CODE} when something would change, ` +
        `${PLAN_BREAKING_EXIT_CODE} when apply would refuse a change (not backward compatible)`,
    )
    .option('--prune', 'also delete objects removed from the files', false)
    .option('--out <file>', 'save the plan, to apply exactly it later with `apply <file>`')
    .action(async (options: PlanOptions) => (await import('./registry.actions')).plan(options));

  program
    .command('apply')
    .description('apply the definitions: provision schemas and topics, then append one changeset to the registry log')
    .argument('[plan-file]', 'a plan saved by `plan --out`: apply exactly it, or fail if the registry has moved since')
    .option('--prune', 'delete objects removed from the files', false)
    .option('--author <name>', 'recorded in the registry history', process.env.USER ?? userInfo().username)
    .action(async (planFile: string | undefined, options: ApplyOptions) =>
      (await import('./registry.actions')).apply(planFile, options),
    );

  program
    .command('ls')
    .description('list the objects of one kind')
    .argument('<kind>', 'entities | data-sources | feature-views | feature-services | connectors')
    .action(async (kind: string, options: CommonOptions) => (await import('./registry.actions')).ls(kind, options));

  program
    .command('describe')
    .description('show one object as the registry holds it, in the YAML form of the definition files')
    .argument('<kind>')
    .argument('<name>')
    .action(async (kind: string, name: string, options: CommonOptions) =>
      (await import('./registry.actions')).describe(kind, name, options),
    );

  program
    .command('history')
    .description('every version of one object, with its log offset and time')
    .argument('<kind>')
    .argument('<name>')
    .action(async (kind: string, name: string, options: CommonOptions) =>
      (await import('./registry.actions')).history(kind, name, options),
    );
}
