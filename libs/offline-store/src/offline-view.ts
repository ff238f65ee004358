import {
  canonicalJson,
  FeaturelogError,
  getEntity,
  listDefinitions,
  type DataSourceDefinition,
  type DefinitionSource,
  type EntityDefinition,
  type FeatureViewDefinition,
  type RegistryState,
} from '@featurelog/domain';
import type { KafkaDataSource } from '@featurelog/avro';
import { kafkaSourceOf, resolvedView, resolveView, viewTopic, type ResolvedView } from '@featurelog/view-rows';

/**
 * The name a view's segments are filed under (directory, `view` of segment events): the view's name, with
 * `.v<n>` from version 2 like its topic. A new version reads a new topic whose offsets start again at 0,
 * so its segments must not share a catalog entry with the old version's.
 */
export function offlineViewKey(view: Pick<FeatureViewDefinition, 'name' | 'version'>): string {
  return view.version > 1 ? `${view.name}.v${view.version}` : view.name;
}

/** An offline view as the compactor consumes it, resolved against one registry state. */
export interface OfflineView extends ResolvedView {
  /** The name its segments are filed under (offlineViewKey). */
  key: string;
  /** Equal fingerprints: nothing the compactor depends on changed. */
  fingerprint: string;
}

/** Every view with `offline: true`, keyed by offlineViewKey. */
export function offlineViews(state: RegistryState, project: string): Map<string, OfflineView> {
  const views = new Map<string, OfflineView>();
  for (const tagged of listDefinitions(state, 'feature_view')) {
    const definition = tagged.definition as FeatureViewDefinition;
    if (!definition.offline) continue;
    const entities = definition.entities.flatMap((name) => getEntity(state, name) ?? []);
    if (entities.length !== definition.entities.length) continue;
    let source: KafkaDataSource | undefined;
    try {
      source = kafkaSourceOf(state, definition);
    } catch {
      continue;
    }
    const view = buildOfflineView(project, definition, entities, source);
    views.set(view.key, view);
  }
  return views;
}

/**
 * One view as the compactor reads it (its topic, the existing topic of a `kafka` data source or else its
 * managed topic, and the key its segments are filed under), for readers of the same log and segments:
 * exports and backfills. Unlike offlineViews, which leaves broken views out, a missing entity or data
 * source is an error naming the view (UNKNOWN_ENTITY, UNKNOWN_DATA_SOURCE).
 */
export function resolveOfflineView(
  definitions: DefinitionSource,
  project: string,
  definition: FeatureViewDefinition,
): OfflineView {
  const { entities, source } = resolveView(definitions, project, definition);
  return buildOfflineView(project, definition, entities, source);
}

/**
 * Every topic whose records may be in the segments filed under the view's offlineViewKey, from the
 * registry's history: the topic the view read (its `kafka` data source's, else its managed one) at each
 * registry version where it existed at this version with `offline: true`. Segments record offsets, not
 * topics, so when this names more than one topic, offsets of different topics share one catalog entry and
 * no reader can tell their rows apart. A definition list (no history) gives the current topic only.
 */
export function topicsFiledUnder(
  definitions: DefinitionSource,
  project: string,
  view: Pick<FeatureViewDefinition, 'name' | 'version'>,
): string[] {
  if (Array.isArray(definitions)) {
    const current = definitions.find((t) => t.kind === 'feature_view' && t.definition.name === view.name);
    return current === undefined ? [] : [topicOf(definitions, project, current.definition as FeatureViewDefinition)];
  }
  const state = definitions as RegistryState;
  const viewHistory = state.objects[`feature_view/${view.name}`]?.history ?? [];
  const sourceNames = new Set(
    viewHistory.flatMap((entry) => {
      const source = (entry.definition as FeatureViewDefinition | undefined)?.source;
      return source === undefined ? [] : [source];
    }),
  );
  // Every change to the view or to a data source it ever named, in log order.
  const changes = [
    ...viewHistory.map((entry) => ({ entry, kind: 'view' as const, name: view.name })),
    ...[...sourceNames].flatMap((name) =>
      (state.objects[`data_source/${name}`]?.history ?? []).map((entry) => ({ entry, kind: 'source' as const, name })),
    ),
  ].sort((a, b) => a.entry.offset - b.entry.offset);
  let current: FeatureViewDefinition | undefined;
  const sources = new Map<string, DataSourceDefinition | undefined>();
  const topics = new Set<string>();
  for (let i = 0; i < changes.length; i++) {
    const { entry, kind, name } = changes[i]!;
    if (kind === 'view') current = entry.definition as FeatureViewDefinition | undefined;
    else sources.set(name, entry.definition as DataSourceDefinition | undefined);
    // One changeset may change both: look at the state after all of its changes.
    if (changes[i + 1]?.entry.offset === entry.offset) continue;
    if (current === undefined || current.version !== view.version || !current.offline) continue;
    const source = current.source === undefined ? undefined : sources.get(current.source);
    topics.add(viewTopic(project, current, source?.kind === 'kafka' ? source : undefined));
  }
  return [...topics];
}

function topicOf(definitions: DefinitionSource, project: string, view: FeatureViewDefinition): string {
  return viewTopic(project, view, kafkaSourceOf(definitions, view));
}

/**
 * Refuses (VIEW_TOPIC_CHANGED) to read the segments of a view whose segments may hold offsets of more
 * than one topic (see topicsFiledUnder): rows would be silently mixed up or left out.
 */
export function assertOneTopicFiledUnder(
  definitions: DefinitionSource,
  project: string,
  view: Pick<FeatureViewDefinition, 'name' | 'version'>,
): void {
  const topics = topicsFiledUnder(definitions, project, view);
  if (topics.length > 1) {
    throw new FeaturelogError(
      'VIEW_TOPIC_CHANGED',
      `feature view "${view.name}" (version ${view.version}) has read ${topics.join(', ')} over its history; its ` +
        `segments ("${offlineViewKey(view)}") hold log offsets without their topic, so its history cannot be ` +
        `replayed exactly. Apply the view as a new version (version ${view.version + 1}) to start a new history.`,
    );
  }
}

/** A view resolved by the caller: its entities, and the `kafka` data source it reads if it reads one. */
export function buildOfflineView(
  project: string,
  definition: FeatureViewDefinition,
  entities: EntityDefinition[],
  source: KafkaDataSource | undefined,
): OfflineView {
  return {
    key: offlineViewKey(definition),
    ...resolvedView(project, definition, entities, source),
    fingerprint: canonicalJson({ definition, entities, source: source ?? null }),
  };
}
