import type { Command } from 'commander';
import type { CommonOptions } from './connector.actions';

/** `featurelog connector …`: acts on a connector's worker; the definition itself changes only through apply. */
export function registerConnectorCommands(program: Command): void {
  const connector = program.command('connector').description('act on a connector on its Kafka Connect worker');
  connector
    .command('restart')
    .description('restart the failed tasks of a connector (and the connector itself, if it failed)')
    .argument('<name>')
    .action(async (name: string, options: CommonOptions) =>
      (await import('./connector.actions')).restartConnector(name, options),
    );
}
