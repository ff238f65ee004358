import {
  FeaturelogError,
  topicNames,
  valueSubject,
  type AnyDefinition,
  type ConnectorDefinition,
  type DataSourceDefinition,
  type DefinitionKind,
  type EntityDefinition,
  type FeatureServiceDefinition,
  type FeatureViewDefinition,
  type RegistryChange,
  type RegistryChangeset,
  type Tags,
  type ValueType,
} from '@featurelog/domain';
import { REGISTRY_CHANGESET_SCHEMA } from './registry-changeset.schema';
import { encodeRow, readerSchema, type RowDecoder, type FeatureRow } from './row-serde';
import type { SchemaRegistryPort } from './schema-registry.port';
import { SubjectSerde } from './subject-serde';

export { REGISTRY_CHANGESET_SCHEMA } from './registry-changeset.schema';

const NS = 'featurelog.registry.';
const BRANCH = {
  entity: `${NS}EntityDefinition`,
  managed: `${NS}ManagedDataSource`,
  kafka: `${NS}KafkaDataSource`,
  file: `${NS}FileDataSource`,
  feature_view: `${NS}FeatureViewDefinition`,
  feature_service: `${NS}FeatureServiceDefinition`,
  connector: `${NS}ConnectorDefinition`,
} as const;
const KIND_OF_BRANCH: Record<string, DefinitionKind> = {
  [BRANCH.entity]: 'entity',
  [BRANCH.managed]: 'data_source',
  [BRANCH.kafka]: 'data_source',
  [BRANCH.file]: 'data_source',
  [BRANCH.feature_view]: 'feature_view',
  [BRANCH.feature_service]: 'feature_service',
  [BRANCH.connector]: 'connector',
};

/** The subject the changeset schema is registered under: `<project>.registry-value`. */
export const registryChangesetSubject = (project: string): string => valueSubject(topicNames.registry(project));

const reader = readerSchema(REGISTRY_CHANGESET_SCHEMA);

/** Encodes a changeset with the current changeset schema, framed under `schemaId` (its id in the registry). */
export function encodeRegistryChangeset(schemaId: number, changeset: RegistryChangeset): Buffer {
  return encodeRow(schemaId, reader.type, changesetToAvro(changeset) as unknown as FeatureRow);
}

/**
 * Decodes a framed changeset written with any registered version of the changeset schema, resolved
 * to the current one. Throws the wire/Avro errors of RowDecoder, or REGISTRY_CHANGESET_MALFORMED
 * when a change's kind and definition disagree.
 */
export async function decodeRegistryChangeset(message: Uint8Array, decoder: RowDecoder): Promise<RegistryChangeset> {
  return changesetFromAvro((await decoder.decode(message, reader)) as unknown as AvroChangeset);
}

/**
 * Registers the changeset schema for a project once, then encodes and decodes changesets on
 * `<project>.registry` with the id the registry assigned.
 */
export class RegistryChangesetSerde {
  private readonly serde: SubjectSerde;

  constructor(registry: SchemaRegistryPort, project: string) {
    this.serde = new SubjectSerde(registry, registryChangesetSubject(project), REGISTRY_CHANGESET_SCHEMA);
  }

  /** The changeset schema's id under `<project>.registry-value`, registered on first use. */
  id(): Promise<number> {
    return this.serde.id();
  }

  encode(changeset: RegistryChangeset): Promise<Buffer> {
    return this.serde.encode(changesetToAvro(changeset));
  }

  /** Throws the wire/Avro errors of RowDecoder, or REGISTRY_CHANGESET_MALFORMED. */
  async decode(message: Uint8Array): Promise<RegistryChangeset> {
    return changesetFromAvro((await this.serde.decode(message)) as AvroChangeset);
  }
}

// --- Avro shape <-> domain shape. Optional members are null in Avro and absent in the domain. ---

type Nullable<T> = { [K in keyof T]-?: undefined extends T[K] ? Exclude<T[K], undefined> | null : T[K] };
type AvroDescribed = { description: string | null; tags: Tags | null; owner: string | null };
type AvroDefinition = { [branch: string]: Record<string, unknown> } | null;

interface AvroChange {
  op: 'UPSERT' | 'DELETE';
  kind: 'ENTITY' | 'DATA_SOURCE' | 'FEATURE_VIEW' | 'FEATURE_SERVICE' | 'CONNECTOR';
  name: string;
  definition: AvroDefinition;
}

interface AvroChangeset {
  applyId: string;
  basedOnVersion: number;
  appliedAt: number;
  author: string | null;
  changes: AvroChange[];
}

function changesetToAvro(changeset: RegistryChangeset): AvroChangeset {
  return {
    applyId: changeset.applyId,
    basedOnVersion: changeset.basedOnVersion,
    appliedAt: changeset.appliedAt,
    author: changeset.author ?? null,
    changes: changeset.changes.map((change) => ({
      op: change.op === 'upsert' ? 'UPSERT' : 'DELETE',
      kind: change.kind.toUpperCase() as AvroChange['kind'],
      name: change.name,
      definition: change.definition === undefined ? null : definitionToAvro(change.kind, change.definition),
    })),
  };
}

function described(definition: { description?: string; tags?: Tags; owner?: string }): AvroDescribed {
  return {
    description: definition.description ?? null,
    tags: definition.tags ?? null,
    owner: definition.owner ?? null,
  };
}

function definitionToAvro(kind: DefinitionKind, definition: AnyDefinition): AvroDefinition {
  switch (kind) {
    case 'entity': {
      const entity = definition as EntityDefinition;
      return {
        [BRANCH.entity]: {
          name: entity.name,
          joinKeys: entity.joinKeys.map((key) => ({ name: key.name, type: key.type })),
          ...described(entity),
        },
      };
    }
    case 'data_source': {
      const source = definition as DataSourceDefinition;
      if (source.kind === 'managed') return { [BRANCH.managed]: { name: source.name, ...described(source) } };
      const common = {
        name: source.name,
        timestampField: source.timestampField,
        createdTimestampField: source.createdTimestampField ?? null,
        fieldMapping: source.fieldMapping ?? null,
        ...described(source),
      };
      if (source.kind === 'kafka')
        return {
          [BRANCH.kafka]: {
            ...common,
            topic: source.topic,
            format: source.format ?? null,
            subject: source.subject ?? null,
          },
        };
      return { [BRANCH.file]: { ...common, path: source.path, format: source.format } };
    }
    case 'feature_view': {
      const view = definition as FeatureViewDefinition;
      const avro: Nullable<FeatureViewDefinition> = {
        name: view.name,
        version: view.version,
        entities: view.entities,
        features: view.features.map((feature) => ({
          name: feature.name,
          type: feature.type,
          description: feature.description ?? null,
          tags: feature.tags ?? null,
        })) as FeatureViewDefinition['features'],
        ttlSeconds: view.ttlSeconds,
        source: view.source ?? null,
        online: view.online,
        offline: view.offline,
        partitions: view.partitions ?? null,
        ...described(view),
      };
      return { [BRANCH.feature_view]: avro };
    }
    case 'feature_service': {
      const service = definition as FeatureServiceDefinition;
      return { [BRANCH.feature_service]: { name: service.name, features: service.features, ...described(service) } };
    }
    case 'connector': {
      const connector = definition as ConnectorDefinition;
      return {
        [BRANCH.connector]: {
          name: connector.name,
          worker: connector.worker,
          connectorClass: connector.connectorClass,
          config: connector.config,
          state: connector.state,
          ...described(connector),
        },
      };
    }
  }
}

/** Copies `from` into a domain object, leaving out members that are null (absent in the domain). */
function withoutNulls<T>(from: Record<string, unknown>): T {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(from)) {
    if (value !== null) out[key] = value instanceof Map ? Object.fromEntries(value) : value;
  }
  return out as T;
}

function changesetFromAvro(avro: AvroChangeset): RegistryChangeset {
  const changes = avro.changes.map((change, index): RegistryChange => {
    const kind = change.kind.toLowerCase() as DefinitionKind;
    const base: RegistryChange = { op: change.op === 'UPSERT' ? 'upsert' : 'delete', kind, name: change.name };
    if (change.definition === null) return base;
    const [branch] = Object.keys(change.definition);
    if (branch === undefined || !Object.hasOwn(KIND_OF_BRANCH, branch) || KIND_OF_BRANCH[branch] !== kind) {
      throw new FeaturelogError(
        'REGISTRY_CHANGESET_MALFORMED',
        `change ${index} of apply ${avro.applyId} is of kind ${change.kind} but carries a ${branch ?? 'missing'} definition`,
      );
    }
    return { ...base, definition: definitionFromAvro(branch, change.definition[branch]!) };
  });
  const changeset: RegistryChangeset = {
    applyId: avro.applyId,
    basedOnVersion: avro.basedOnVersion,
    appliedAt: avro.appliedAt,
    changes,
  };
  return avro.author === null ? changeset : { ...changeset, author: avro.author };
}

function definitionFromAvro(branch: string, avro: Record<string, unknown>): AnyDefinition {
  switch (branch) {
    case BRANCH.entity: {
      const entity = withoutNulls<EntityDefinition>(avro);
      return { ...entity, joinKeys: entity.joinKeys.map((key) => ({ name: key.name, type: key.type })) };
    }
    case BRANCH.managed:
      return { ...withoutNulls<Record<string, unknown>>(avro), kind: 'managed' } as DataSourceDefinition;
    case BRANCH.kafka:
      return { ...withoutNulls<Record<string, unknown>>(avro), kind: 'kafka' } as DataSourceDefinition;
    case BRANCH.file:
      return { ...withoutNulls<Record<string, unknown>>(avro), kind: 'file' } as DataSourceDefinition;
    case BRANCH.feature_view: {
      const view = withoutNulls<FeatureViewDefinition>(avro);
      return {
        ...view,
        features: view.features.map((feature) =>
          withoutNulls<{ name: string; type: ValueType }>(feature as unknown as Record<string, unknown>),
        ),
      };
    }
    case BRANCH.connector:
      return withoutNulls<ConnectorDefinition>(avro);
    default:
      return withoutNulls<FeatureServiceDefinition>(avro);
  }
}
