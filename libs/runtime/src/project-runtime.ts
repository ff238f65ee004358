import { readFile } from 'node:fs/promises';
import type { LogSettings, OnlineStoreSettings, ProjectConfig, SchemaRegistrySettings } from '@featurelog/config';
import { FeaturelogError } from '@featurelog/domain';
import { FileEventLog, type EventLog } from '@featurelog/log';
import {
  ConfluentSchemaRegistry,
  LocalSchemaRegistry,
  RegistryChangesetSerde,
  type SchemaRegistryPort,
} from '@featurelog/avro';
import { LevelOnlineStore, RedisOnlineStore, type OnlineStore } from '@featurelog/online-store';
import {
  ConnectWorkers,
  LogProvisioner,
  RegistryApplier,
  RegistryFollower,
  type ProjectTopicSpecs,
} from '@featurelog/registry';
import { secretValue, tlsConnectionOptions } from './connection-options';
import { openKafkaEventLog, projectTopicSpecs } from './kafka-and-topics';
import {
  devServerHoldsMessage,
  liveDevServer,
  lockHolder,
  readDevServerRecord,
  type DevServerRecord,
} from './dev-server-record';
import { RemoteEventLog } from './remote-event-log.adapter';

export interface OpenRuntimeOptions {
  /**
   * `auto` (default): while a `featurelog dev` of this repo runs in another process and holds the
   * embedded log, reach that log through the dev server's log bridge instead of refusing.
   * `direct`: open every store here, as `featurelog dev` itself does.
   */
  embeddedAccess?: 'auto' | 'direct';
  /**
   * Presented to a dev server's log bridge when the log is reached through it (the bridge needs a
   * key with the `admin` scope when featurelog.yaml configures keys). Never logged.
   */
  apiKey?: string;
}

/** The ports of one project, opened once in a process and shared by every lease on them. */
class OpenPorts {
  leases = 0;
  private onlineStoreOpened: Promise<OnlineStore> | undefined;
  readonly closers: Array<() => Promise<void>> = [];
  /** One codec per process: it caches the changeset schema id. */
  readonly registryCodec: RegistryChangesetSerde;

  constructor(
    readonly config: ProjectConfig,
    readonly log: EventLog,
    readonly schemas: SchemaRegistryPort,
    readonly topics: ProjectTopicSpecs,
    /** The dev server whose embedded stores this process reaches through it, if any. */
    readonly devServer: DevServerRecord | undefined,
  ) {
    this.registryCodec = new RegistryChangesetSerde(schemas, config.project);
  }

  onlineStore(): Promise<OnlineStore> {
    this.onlineStoreOpened ??= this.openOnlineStore().then((store) => {
      this.closers.unshift(() => store.close());
      return store;
    });
    return this.onlineStoreOpened;
  }

  private async openOnlineStore(): Promise<OnlineStore> {
    const settings = this.config.onlineStore;
    const holder = settings.type === 'embedded' ? await this.devServerHolding('onlineStore', settings.path) : undefined;
    if (holder) {
      throw new FeaturelogError(
        'DEV_SERVER_RUNNING',
        devServerHoldsMessage(
          holder,
          `the embedded online store (${settings.type === 'embedded' ? settings.path : ''})`,
          `read online features through its serving API at ${holder.urls.serving} (featurelog get-online does)`,
        ),
      );
    }
    return openOnlineStore(settings);
  }

  private async devServerHolding(store: 'log' | 'onlineStore', path: string): Promise<DevServerRecord | undefined> {
    if (this.devServer?.holds[store] === path) return this.devServer;
    const live = await liveDevServer(this.config.repoDir);
    return live?.holds[store] === path ? live : undefined;
  }

  closed = false;

  async close(): Promise<void> {
    this.closed = true;
    for (const close of this.closers.splice(0)) await close();
  }
}

/** Ports open in this process, by project configuration: apps composed in one process share them. */
const openInThisProcess = new Map<string, Promise<OpenPorts>>();

/**
 * The ports a featurelog.yaml names, closed together. Each adapter is chosen by its own config
 * slice, so moving from the embedded default to Kafka, a schema registry and Redis is a change of
 * configuration only.
 *
 * A process opens a project's ports once: every `open` of the same configuration in one process is
 * a lease on the same log, schema registry and online store, and the last `close` closes them. So
 * apps composed in one process (`featurelog dev`) share the embedded stores, which admit a single
 * process. Another process on the same repo reaches a running dev server's embedded log through it
 * (see OpenRuntimeOptions), and is refused its embedded online store with a message saying what to
 * use instead.
 */
export class ProjectRuntime {
  private closed = false;

  private constructor(private readonly ports: OpenPorts) {}

  static async open(config: ProjectConfig, options: OpenRuntimeOptions = {}): Promise<ProjectRuntime> {
    const key = JSON.stringify(config);
    let opening = openInThisProcess.get(key);
    if (opening === undefined) {
      opening = openPorts(config, options);
      openInThisProcess.set(key, opening);
      opening.catch(() => openInThisProcess.delete(key));
    }
    const ports = await opening;
    ports.leases++;
    return new ProjectRuntime(ports);
  }

  get config(): ProjectConfig {
    return this.ports.config;
  }

  get project(): string {
    return this.ports.config.project;
  }

  get log(): EventLog {
    return this.ports.log;
  }

  get schemas(): SchemaRegistryPort {
    return this.ports.schemas;
  }

  /** Where the local Parquet segments live (`offlineStore.path`): with the ports above, what a job runs on. */
  get offlineRoot(): string {
    return this.ports.config.offlineStore.path;
  }

  get topics(): ProjectTopicSpecs {
    return this.ports.topics;
  }

  get registryCodec(): RegistryChangesetSerde {
    return this.ports.registryCodec;
  }

  /** The dev server this process reaches the embedded log through, when one runs on the repo. */
  get devServer(): DevServerRecord | undefined {
    return this.ports.devServer;
  }

  /** Opened on first use: only the processes that read or write features need it. */
  onlineStore(): Promise<OnlineStore> {
    return this.ports.onlineStore();
  }

  /**
   * The registry codec, follower and applier of this project. The follower is not yet caught up;
   * pass one to reuse it (the registry app's, restored from its stored state).
   */
  registry(existing?: RegistryFollower): {
    follower: RegistryFollower;
    applier: RegistryApplier;
    codec: RegistryChangesetSerde;
  } {
    const codec = this.registryCodec;
    const follower = existing ?? new RegistryFollower({ log: this.log, codec, project: this.project });
    const provisioner = new LogProvisioner(this.project, this.log, this.schemas, this.topics);
    const applier = new RegistryApplier(this.log, codec, follower, provisioner, this.connectWorkers());
    return { follower, applier, codec };
  }

  /** The Kafka Connect workers featurelog.yaml names (none when it has no `connect` section). */
  connectWorkers(): ConnectWorkers {
    return new ConnectWorkers(this.config.connect?.workers ?? {});
  }

  /** Ends this lease; the ports close with the last lease of the process. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (--this.ports.leases > 0) return;
    await this.closePorts();
  }

  /**
   * Closes the ports now, whatever leases remain (closing the log stops its subscriptions): for the
   * composition root that owns them (`featurelog dev`), once it has stopped its apps, so the stores
   * are released even if an app did not end its lease.
   */
  async closeForEveryLease(): Promise<void> {
    this.closed = true;
    this.ports.leases = 0;
    await this.closePorts();
  }

  private async closePorts(): Promise<void> {
    if (this.ports.closed) return;
    const key = JSON.stringify(this.ports.config);
    if ((await openInThisProcess.get(key)) === this.ports) openInThisProcess.delete(key);
    await this.ports.close();
  }
}

async function openPorts(config: ProjectConfig, options: OpenRuntimeOptions): Promise<OpenPorts> {
  const devServer =
    options.embeddedAccess === 'direct' || config.log.type !== 'embedded'
      ? undefined
      : await liveDevServer(config.repoDir);
  const viaDevServer =
    devServer !== undefined && config.log.type === 'embedded' && devServer.holds.log === config.log.path;
  const log = viaDevServer
    ? new RemoteEventLog(devServer, { apiKey: options.apiKey })
    : await openProjectEventLog(config);
  try {
    const schemas = await openSchemaRegistry(config.schemaRegistry);
    const ports = new OpenPorts(
      config,
      log,
      schemas,
      await projectTopicSpecs(config.project),
      viaDevServer ? devServer : undefined,
    );
    ports.closers.push(
      () => schemas.close(),
      () => log.close(),
    );
    return ports;
  } catch (error) {
    await log.close();
    throw error;
  }
}

/** The embedded log admits one process: when another holds it, say which and what to do. */
async function openProjectEventLog(config: ProjectConfig): Promise<EventLog> {
  try {
    return await openEventLog(config.log);
  } catch (error) {
    if (
      config.log.type !== 'embedded' ||
      !(error instanceof FeaturelogError) ||
      error.code !== 'LOG_DIRECTORY_LOCKED'
    ) {
      throw error;
    }
    throw await lockedLogError(config, config.log.path, error);
  }
}

async function lockedLogError(config: ProjectConfig, path: string, cause: FeaturelogError): Promise<FeaturelogError> {
  const holder = await lockHolder(path);
  if (holder === undefined || holder === process.pid) return cause;
  const dev = await readDevServerRecord(config.repoDir);
  if (dev?.pid === holder) {
    return new FeaturelogError(
      'LOG_DIRECTORY_LOCKED',
      devServerHoldsMessage(dev, `the embedded log ${path}`, `use its APIs (${dev.urls.dev}/health lists them)`),
      { cause },
    );
  }
  const command = await commandLine(holder);
  return new FeaturelogError(
    'LOG_DIRECTORY_LOCKED',
    `the embedded log ${path} is held by process ${holder}${command ? ` (${command})` : ''}. ` +
      'It admits one process at a time: wait for that one to finish or stop it. To run the apps and ' +
      'commands side by side, run `featurelog dev` (other featurelog commands then go through it), or ' +
      'point `log:` in featurelog.yaml at Kafka.',
    { cause },
  );
}

async function commandLine(pid: number): Promise<string | undefined> {
  const text = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  const command = text.split('\0').filter(Boolean).join(' ');
  return command.length > 0 ? command.slice(0, 200) : undefined;
}

export async function openEventLog(settings: LogSettings): Promise<EventLog> {
  switch (settings.type) {
    case 'embedded':
      return FileEventLog.open({ directory: settings.path });
    case 'kafka':
      return openKafkaEventLog(settings);
  }
}

export async function openSchemaRegistry(settings: SchemaRegistrySettings): Promise<SchemaRegistryPort> {
  switch (settings.type) {
    case 'embedded':
      return LocalSchemaRegistry.open({ directory: settings.path });
    case 'confluent': {
      const { tls, basicAuth } = settings;
      const registry = new ConfluentSchemaRegistry({
        url: settings.url,
        ...(tls !== undefined && { tls: await tlsConnectionOptions(tls, 'schemaRegistry') }),
        ...(basicAuth !== undefined && {
          basicAuth: { username: basicAuth.username, password: secretValue(basicAuth.password) },
        }),
      });
      // A plain registry is reached lazily as before; a secured one is tried now, so that a wrong
      // password or CA fails start-up naming the setting.
      if (tls !== undefined || basicAuth !== undefined || settings.url.startsWith('https:')) {
        await registry.checkConnection().catch(async (error: unknown) => {
          await registry.close();
          throw error;
        });
      }
      return registry;
    }
  }
}

export async function openOnlineStore(settings: OnlineStoreSettings): Promise<OnlineStore> {
  switch (settings.type) {
    case 'embedded':
      return LevelOnlineStore.open({ path: settings.path });
    case 'redis': {
      const { username, password, tls } = settings;
      return RedisOnlineStore.connect({
        url: settings.url,
        ...(username !== undefined && { username }),
        ...(password !== undefined && { password: secretValue(password) }),
        ...(tls !== undefined && { tls: await tlsConnectionOptions(tls, 'onlineStore') }),
        ...(settings.cluster !== undefined && { cluster: { nodes: settings.cluster.nodes } }),
      });
    }
  }
}
