import { topicNames, type FeaturelogLogger } from '@featurelog/domain';
import type { WriterSchemaSource } from '@featurelog/avro';
import type { EventLog } from '@featurelog/log';
import type { OnlineStore } from '@featurelog/online-store';
import type { RegistryFollower } from '@featurelog/registry';
import type { MaterializerMetrics } from './materializer-metrics';
import { DEFAULT_RETENTION_TTL_MULTIPLE } from './view-projection';

export interface MaterializerOptions {
  project: string;
  log: EventLog;
  /** Writer schemas by id (the schema registry port). */
  schemas: WriterSchemaSource;
  store: OnlineStore;
  /** Follows `<project>.registry`; the caller starts it (it may be shared with other components). */
  follower: RegistryFollower;
  /**
   * Kafka consumer group over the feature topics. It only shares partitions between instances: where
   * to start is always the stored checkpoint, never the group's commits.
   */
  groupId?: string;
  /** Name of the checkpoint in the online store; shared by every instance of one materializer. */
  checkpointName?: string;
  dlqTopic?: string;
  /** Most rows per online store write (one Lua call): bounds how long one script holds Redis. */
  maxRowsPerWrite?: number;
  /** How often the checkpoint marker is looked for, to notice a wiped store while running. */
  wipeCheckIntervalMs?: number;
  /** How often the registry is read to its end besides the live subscription, and missing topics looked for. */
  registryPollMs?: number;
  /** The store forgets a row this many view TTLs after its event time (views without TTL: never); 0 = never. */
  retentionTtlMultiple?: number;
  /** Backoff of batches failing on infrastructure (see ConsumerRunner). */
  initialRetryMs?: number;
  maxRetryMs?: number;
  /** Backoff of restarts after the consumer itself failed. */
  restartDelayMs?: number;
  maxRestartDelayMs?: number;
  metrics?: MaterializerMetrics;
  /** Where its lines go; default: warnings and errors to stderr. */
  logger?: FeaturelogLogger;
}

/** The materializer's tunables, each resolved to its default (see MaterializerOptions). */
export interface MaterializerSettings {
  groupId: string;
  checkpointName: string;
  dlqTopic: string;
  maxRowsPerWrite: number;
  wipeCheckIntervalMs: number;
  registryPollMs: number;
  retentionTtlMultiple: number;
  initialRetryMs: number;
  maxRetryMs: number;
  restartDelayMs: number;
  maxRestartDelayMs: number;
}

export function materializerSettings(options: MaterializerOptions): MaterializerSettings {
  const { project } = options;
  return {
    groupId: options.groupId ?? `${project}.materializer`,
    checkpointName: options.checkpointName ?? `${project}.materializer`,
    dlqTopic: options.dlqTopic ?? topicNames.dlq(project),
    maxRowsPerWrite: options.maxRowsPerWrite ?? 1_000,
    wipeCheckIntervalMs: options.wipeCheckIntervalMs ?? 1_000,
    registryPollMs: options.registryPollMs ?? 5_000,
    retentionTtlMultiple: options.retentionTtlMultiple ?? DEFAULT_RETENTION_TTL_MULTIPLE,
    initialRetryMs: options.initialRetryMs ?? 100,
    maxRetryMs: options.maxRetryMs ?? 5_000,
    restartDelayMs: options.restartDelayMs ?? 500,
    maxRestartDelayMs: options.maxRestartDelayMs ?? 30_000,
  };
}
