import type { ScalarType, ValueType } from './value-types';

/** Free-form labels, as in Feast. */
export type Tags = Record<string, string>;

interface Described {
  description?: string;
  tags?: Tags;
  owner?: string;
}

export interface JoinKey {
  name: string;
  type: ScalarType;
}

/** A thing features are about (a driver, a customer), identified by its join keys. */
export interface EntityDefinition extends Described {
  name: string;
  joinKeys: JoinKey[];
}

/** Maps a column or field of the source to a join key or feature of the view. */
export type FieldMapping = Record<string, string>;

/**
 * How the values of an existing topic are written (a `kafka` data source's `format`; absent is `avro`):
 * - `avro`: the Confluent wire format (magic byte, 4-byte schema id, Avro body) through the schema
 *   registry, as backend apps and Connect's Avro converters write it;
 * - `connect-json`: Kafka Connect's JsonConverter with `schemas.enable=true` (`{"schema", "payload"}`);
 * - `json`: plain JSON objects without schemas, typed by the view's definition;
 * - `debezium`: Debezium change events (`before`, `after`, `op`, `source`), in connect-json or Avro;
 * - `debezium-unwrapped`: rows flattened by Debezium's ExtractNewRecordState (`__deleted`, `__op`,
 *   `__source_ts_ms`), in connect-json or Avro.
 */
export const KAFKA_SOURCE_FORMATS = ['avro', 'connect-json', 'json', 'debezium', 'debezium-unwrapped'] as const;
export type KafkaSourceFormat = (typeof KAFKA_SOURCE_FORMATS)[number];

/**
 * The event time of a `debezium` source: the envelope's `source.ts_ms`, when the change was committed in
 * the source database (not the envelope's `ts_ms`, when the connector read it).
 */
export const DEBEZIUM_SOURCE_TIMESTAMP = 'source.ts_ms';
/** The default event time of a `debezium-unwrapped` source: the commit time ExtractNewRecordState adds. */
export const DEBEZIUM_UNWRAPPED_TIMESTAMP = '__source_ts_ms';

/**
 * Where a view's rows come from.
 * - `managed`: the view's own topic `<project>.features.<view>`, written by featurelog's producers.
 * - `kafka`: an existing topic that backend apps (or Kafka Connect) already produce, in one of the
 *   KAFKA_SOURCE_FORMATS (Confluent Avro with their own schema when `format` is absent).
 * - `file`: a Parquet or CSV file, read by `featurelog ingest`.
 */
export type DataSourceDefinition = Described & { name: string } & (
    | { kind: 'managed' }
    | {
        kind: 'kafka';
        topic: string;
        /** Absent: `avro`, what a source without `format` always meant. */
        format?: KafkaSourceFormat;
        subject?: string;
        timestampField: string;
        createdTimestampField?: string;
        fieldMapping?: FieldMapping;
      }
    | {
        kind: 'file';
        path: string;
        format: 'parquet' | 'csv';
        timestampField: string;
        createdTimestampField?: string;
        fieldMapping?: FieldMapping;
      }
  );

export interface FeatureDefinition {
  name: string;
  type: ValueType;
  description?: string;
  tags?: Tags;
}

export interface FeatureViewDefinition extends Described {
  name: string;
  /** A breaking schema change is a new version, with its own topic and subject. */
  version: number;
  entities: string[];
  features: FeatureDefinition[];
  /** Values older than this are `OUTSIDE_MAX_AGE` online and outside the point-in-time window; 0 = forever. */
  ttlSeconds: number;
  /** Name of a data source; absent means the view's own managed topic. */
  source?: string;
  online: boolean;
  offline: boolean;
  /** Partitions of the managed topic; absent means the default from topics/. */
  partitions?: number;
}

export interface FeatureServiceDefinition extends Described {
  name: string;
  /** `view:feature` or `view:*`. */
  features: string[];
}

export type ConnectorState = 'running' | 'paused';
export const CONNECTOR_STATES: readonly ConnectorState[] = ['running', 'paused'];

/** The Connect worker a connector runs on when its definition names none (`connect.workers.default`). */
export const DEFAULT_CONNECT_WORKER = 'default';

/**
 * A Kafka Connect connector, run on a Connect worker named in featurelog.yaml (`connect.workers`).
 * `config` is the connector's own configuration (without `name` and `connector.class`, which come
 * from `name` and `connectorClass`). Secrets are written as references to environment variables
 * (`${PG_PASSWORD}`): the registry stores the reference, and only the reconciler resolves it, in the
 * request that sends the config to the worker.
 */
export interface ConnectorDefinition extends Described {
  name: string;
  /** Name of the Connect worker in featurelog.yaml. */
  worker: string;
  connectorClass: string;
  config: Record<string, string>;
  /** What the reconciler keeps the connector at. */
  state: ConnectorState;
}

export type DefinitionKind = 'entity' | 'data_source' | 'feature_view' | 'feature_service' | 'connector';
export const DEFINITION_KINDS: readonly DefinitionKind[] = [
  'entity',
  'data_source',
  'feature_view',
  'feature_service',
  'connector',
];

export interface DefinitionByKind {
  entity: EntityDefinition;
  data_source: DataSourceDefinition;
  feature_view: FeatureViewDefinition;
  feature_service: FeatureServiceDefinition;
  connector: ConnectorDefinition;
}

export type AnyDefinition = DefinitionByKind[DefinitionKind];

/** A definition tagged with its kind, as it travels in events and plans. */
export type TaggedDefinition = { [K in DefinitionKind]: { kind: K; definition: DefinitionByKind[K] } }[DefinitionKind];

/** Topic names derived from the project and view (see ARCHITECTURE.md, Topics). */
export const topicNames = {
  registry: (project: string) => `${project}.registry`,
  segments: (project: string) => `${project}.segments`,
  jobs: (project: string) => `${project}.jobs`,
  dlq: (project: string) => `${project}.dlq`,
  /** Version 1 keeps the plain name; later versions get a suffix so old and new rows never mix. */
  features: (project: string, view: Pick<FeatureViewDefinition, 'name' | 'version'>) =>
    view.version > 1 ? `${project}.features.${view.name}.v${view.version}` : `${project}.features.${view.name}`,
};

/** TopicNameStrategy: the row schema of a topic is registered under `<topic>-value`. */
export const valueSubject = (topic: string) => `${topic}-value`;
