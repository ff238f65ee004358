import {
  FeaturelogError,
  listDefinitions,
  registryObjectKey,
  type ConnectorDefinition,
  type RegistryObject,
} from '@featurelog/domain';
import { ConnectWorkers, traceSummary, type ConnectConnectorStatus } from '@featurelog/registry';
import { consoleOutput, isoMicros, table } from '../output';
import { loadConfig, withRuntime } from '../repo';
import type { ApiKeyOptions } from '../api-key';

/** The global options (as registry.actions has them; not imported, as registry.actions loads this file). */
export interface CommonOptions extends ApiKeyOptions {
  repo: string;
  json: boolean;
}

async function registryState(options: CommonOptions) {
  const config = await loadConfig(options);
  return withRuntime(config, options, async (runtime) => runtime.registry().follower.caughtUpState());
}

/** A connector as the registry defines it and as its worker runs it, read now. */
interface ConnectorView {
  name: string;
  worker: string;
  connectorClass: string;
  desiredState: ConnectorDefinition['state'];
  status?: ConnectConnectorStatus;
  /** Why the worker could not be read. */
  unreadable?: string;
}

async function workers(options: CommonOptions): Promise<ConnectWorkers> {
  const config = await loadConfig(options);
  return new ConnectWorkers(config.connect?.workers ?? {}, { attempts: 2, requestTimeoutMs: 5_000 });
}

async function view(connector: ConnectorDefinition, connect: ConnectWorkers): Promise<ConnectorView> {
  const base = {
    name: connector.name,
    worker: connector.worker,
    connectorClass: connector.connectorClass,
    desiredState: connector.state,
  };
  try {
    const status = await connect.client(connector.worker).status(connector.name);
    return status === undefined ? { ...base, unreadable: 'not on the worker (yet)' } : { ...base, status };
  } catch (error) {
    return { ...base, unreadable: error instanceof Error ? error.message : String(error) };
  }
}

function taskLines(status: ConnectConnectorStatus | undefined): string[] {
  return (status?.tasks ?? []).map((task) => {
    const summary = task.state === 'FAILED' ? traceSummary(task.trace) : undefined;
    return `task ${task.id} ${task.state}${summary ? `: ${summary}` : ''}`;
  });
}

/** `featurelog ls connectors`: each connector's state and its tasks', read from its worker. */
export async function lsConnectors(options: CommonOptions): Promise<void> {
  const out = consoleOutput(options.json);
  const state = await registryState(options);
  const connect = await workers(options);
  const connectors = listDefinitions(state, 'connector').map((t) => t.definition as ConnectorDefinition);
  const views = await Promise.all(connectors.map((connector) => view(connector, connect)));
  out.data(views);
  out.print(
    table(
      ['name', 'worker', 'desired', 'state', 'tasks', 'updated'],
      views.map((v) => {
        const object = state.objects[registryObjectKey('connector', v.name)]!;
        return [
          v.name,
          v.worker,
          v.desiredState,
          v.status?.state ?? `unknown: ${v.unreadable ?? ''}`,
          taskLines(v.status).join('\n'),
          isoMicros(object.updatedAt),
        ];
      }),
    ),
  );
}

/** The part of `describe connector` that comes from the worker. */
export async function printConnectorStatus(object: RegistryObject, options: CommonOptions): Promise<void> {
  const out = consoleOutput(options.json);
  const v = await view(object.definition as ConnectorDefinition, await workers(options));
  out.data({ status: v.status ?? null, ...(v.unreadable !== undefined && { unreadable: v.unreadable }) });
  out.print(`\nstate on worker ${v.worker}: ${v.status?.state ?? `unknown (${v.unreadable ?? ''})`}`);
  if (v.status?.state === 'FAILED') out.print(`  connector: ${traceSummary(v.status.trace) ?? ''}`);
  for (const line of taskLines(v.status)) out.print(`  ${line}`);
}

/** `featurelog connector restart NAME`: restarts the connector's failed tasks (and itself, if failed). */
export async function restartConnector(name: string, options: CommonOptions): Promise<void> {
  const out = consoleOutput(options.json);
  const object = (await registryState(options)).objects[registryObjectKey('connector', name)];
  if (!object || object.deleted) throw new FeaturelogError('OBJECT_NOT_FOUND', `no connector named '${name}'`);
  const connector = object.definition as ConnectorDefinition;
  const client = (await workers(options)).client(connector.worker);
  await client.restartFailed(name);
  const status = await client.status(name);
  out.data({ restarted: name, status: status ?? null });
  out.print(`Restarted the failed tasks of connector ${name} on ${client.url}; now ${status?.state ?? 'unknown'}`);
  for (const line of taskLines(status)) out.print(`  ${line}`);
}
