import {
  FeaturelogError,
  getDataSource,
  requireDefinition,
  topicNames,
  viewJoinKeys,
  type DefinitionSource,
  type EntityDefinition,
  type FeatureViewDefinition,
  type JoinKey,
} from '@featurelog/domain';
import type { KafkaDataSource } from '@featurelog/avro';

/**
 * A feature view resolved for reading its rows off the log, the same way for every reader (materializer,
 * compactor, serving subscriptions, exports, backfills, the DLQ): the topic it reads — the existing topic of
 * its `kafka` data source, else its managed topic (file sources are ingested into the managed topic) — its
 * entities and join keys, and the data source whose field mapping and timestamp fields turn an app's
 * records into rows of the view.
 */
export interface ResolvedView {
  definition: FeatureViewDefinition;
  entities: EntityDefinition[];
  joinKeys: JoinKey[];
  topic: string;
  /** Set when the view reads an existing topic with the app's own schema (data source kind `kafka`). */
  source?: KafkaDataSource;
}

/** The topic a view reads: its `kafka` data source's, else its managed `<project>.features.<view>`. */
export function viewTopic(
  project: string,
  view: Pick<FeatureViewDefinition, 'name' | 'version'>,
  source: KafkaDataSource | undefined,
): string {
  return source?.topic ?? topicNames.features(project, view);
}

/**
 * The `kafka` data source a view reads, or undefined when it reads its managed topic (no source, or a
 * managed or file source). A source the view names but the definitions lack is UNKNOWN_DATA_SOURCE.
 */
export function kafkaSourceOf(
  definitions: DefinitionSource,
  view: Pick<FeatureViewDefinition, 'name' | 'source'>,
): KafkaDataSource | undefined {
  if (view.source === undefined) return undefined;
  const dataSource = getDataSource(definitions, view.source);
  if (dataSource === undefined) {
    throw new FeaturelogError(
      'UNKNOWN_DATA_SOURCE',
      `feature view "${view.name}" reads data source "${view.source}", which is not defined`,
    );
  }
  return dataSource.kind === 'kafka' ? dataSource : undefined;
}

/** A view whose entities and data source the caller resolved. */
export function resolvedView(
  project: string,
  definition: FeatureViewDefinition,
  entities: EntityDefinition[],
  source: KafkaDataSource | undefined,
): ResolvedView {
  return {
    definition,
    entities,
    joinKeys: viewJoinKeys(entities, definition),
    topic: viewTopic(project, definition, source),
    ...(source === undefined ? {} : { source }),
  };
}

/** Resolves a view against definitions; a missing entity or data source is UNKNOWN_ENTITY or UNKNOWN_DATA_SOURCE. */
export function resolveView(
  definitions: DefinitionSource,
  project: string,
  definition: FeatureViewDefinition,
): ResolvedView {
  const entities = definition.entities.map((name) => requireDefinition(definitions, 'entity', name));
  return resolvedView(project, definition, entities, kafkaSourceOf(definitions, definition));
}
