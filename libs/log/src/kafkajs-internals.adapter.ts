import type { Kafka, KafkaMessage } from 'kafkajs';
import { FeaturelogError } from '@featurelog/domain';

/**
 * Everything the Kafka event log takes from kafkajs beyond its public API, in one place.
 *
 * kafkajs has no public way to fetch from a partition without joining a consumer group, and the log's
 * read() and follow() need exactly that; so they use the cluster client kafkajs builds for its own
 * producers and consumers, reached through the Kafka instance's `private:Kafka:createCluster` symbol.
 * kafkajs 2.2.4 is its final release, but a fork or a new major could move any of it: the spec beside
 * this file (kafkajs-internals.adapter.unit.spec.ts) checks each assumption below by name, so a version
 * bump that breaks one fails there rather than in a read against a broker.
 */

/** kafkajs' protocol value for READ_COMMITTED (src/protocol/isolationLevel.js): transaction markers and aborted records hidden. */
export const READ_COMMITTED = 1;

/** The description of the symbol under which a kafkajs Kafka instance keeps its cluster-client factory. */
export const CREATE_CLUSTER_SYMBOL = 'private:Kafka:createCluster';

/** A record as a broker fetch returns it: control records (transaction markers) are flagged. */
export type FetchedMessage = KafkaMessage & { isControlRecord?: boolean };

/** The part of kafkajs' internal cluster client used for plain reads. */
export interface KafkaCluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  refreshMetadata(): Promise<void>;
  addTargetTopic(topic: string): Promise<void>;
  findLeaderForPartitions(topic: string, partitions: number[]): Record<string, number[]>;
  findBroker(options: { nodeId: string }): Promise<{
    fetch(request: object): Promise<{ responses: { partitions: { messages: FetchedMessage[] }[] }[] }>;
  }>;
}

/** What the cluster client is created with (the options kafkajs' own consumer passes). */
export interface KafkaClusterOptions {
  allowAutoTopicCreation: boolean;
  isolationLevel: number;
  metadataMaxAge: number;
}

/**
 * A new, unconnected cluster client of `kafka` (same brokers, TLS, SASL and logger). Throws LOG_UNSUPPORTED,
 * not retriable, when this kafkajs has no such factory.
 */
export function createKafkaCluster(kafka: Kafka, options: KafkaClusterOptions): KafkaCluster {
  const create = Object.getOwnPropertySymbols(kafka).find((symbol) => symbol.description === CREATE_CLUSTER_SYMBOL);
  const factory = create && (kafka as unknown as Record<symbol, unknown>)[create];
  if (typeof factory !== 'function') {
    throw new FeaturelogError('LOG_UNSUPPORTED', 'this kafkajs version has no cluster client for plain reads');
  }
  return (factory as (options: KafkaClusterOptions) => KafkaCluster)(options);
}
