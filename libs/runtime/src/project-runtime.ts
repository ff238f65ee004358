import type { LogSettings, OnlineStoreSettings, ProjectConfig, SchemaRegistrySettings } from '@featurelog/config';
import { FileEventLog, type EventLog } from '@featurelog/log';
import {
  ConfluentSchemaRegistry,
  LocalSchemaRegistry,
  RegistryChangesetSerde,
  type SchemaRegistryPort,
} from '@featurelog/avro';
import { LevelOnlineStore, RedisOnlineStore, type OnlineStore } from '@featurelog/online-store';
import { LogProvisioner, RegistryApplier, RegistryFollower, type ProjectTopicSpecs } from '@featurelog/registry';
import { openKafkaEventLog, projectTopicSpecs } from './kafka-and-topics';

/**
 * The ports a featurelog.yaml names, opened once per process and closed together. Each adapter is
 * chosen by its own config slice, so moving from the embedded default to Kafka, a schema registry
 * and Redis is a change of configuration only.
 */
export class ProjectRuntime {
  private onlineStoreOpened: Promise<OnlineStore> | undefined;
  private readonly closers: Array<() => Promise<void>> = [];
  /** One codec per process: it caches the changeset schema id. */
  readonly registryCodec: RegistryChangesetSerde;

  private constructor(
    readonly config: ProjectConfig,
    readonly log: EventLog,
    readonly schemas: SchemaRegistryPort,
    readonly topics: ProjectTopicSpecs,
  ) {
    this.registryCodec = new RegistryChangesetSerde(schemas, config.project);
  }

  static async open(config: ProjectConfig): Promise<ProjectRuntime> {
    const log = await openEventLog(config.log);
    try {
      const schemas = await openSchemaRegistry(config.schemaRegistry);
      const runtime = new ProjectRuntime(config, log, schemas, await projectTopicSpecs(config.project));
      runtime.closers.push(
        () => schemas.close(),
        () => log.close(),
      );
      return runtime;
    } catch (error) {
      await log.close();
      throw error;
    }
  }

  get project(): string {
    return this.config.project;
  }

  /** Opened on first use: only the processes that read or write features need it. */
  onlineStore(): Promise<OnlineStore> {
    this.onlineStoreOpened ??= openOnlineStore(this.config.onlineStore).then((store) => {
      this.closers.unshift(() => store.close());
      return store;
    });
    return this.onlineStoreOpened;
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
    return { follower, applier: new RegistryApplier(this.log, codec, follower, provisioner), codec };
  }

  async close(): Promise<void> {
    for (const close of this.closers.splice(0)) await close();
  }
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
    case 'confluent':
      return new ConfluentSchemaRegistry({ url: settings.url });
  }
}

export async function openOnlineStore(settings: OnlineStoreSettings): Promise<OnlineStore> {
  switch (settings.type) {
    case 'embedded':
      return LevelOnlineStore.open({ path: settings.path });
    case 'redis':
      return RedisOnlineStore.connect({ url: settings.url });
  }
}
