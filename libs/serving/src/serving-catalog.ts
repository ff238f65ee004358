import {
  FeaturelogError,
  getDataSource,
  requireDefinition,
  resolveFeatureReferences,
  resolveServiceFeatures,
  topicNames,
  viewJoinKeys,
  type EntityDefinition,
  type FeatureDefinition,
  type FeatureViewDefinition,
  type JoinKey,
  type RegistryState,
  type ResolvedFeature,
} from '@featurelog/domain';
import type { KafkaDataSource } from '@featurelog/avro';
import {
  storedBytesWriterFor,
  storedValueEncoderFor,
  valueEncoderFor,
  type StoredBytesWriter,
  type StoredValueEncoder,
  type ValueEncoder,
} from './json-values';

/** What serving needs of a view, computed once per registry version. */
export interface ServingView {
  name: string;
  definition: FeatureViewDefinition;
  entities: EntityDefinition[];
  /** Its entities' join keys, in the view's order, each name once. */
  joinKeys: JoinKey[];
  ttlSeconds: number;
  /** The view's managed topic, or the existing topic of its Kafka data source. */
  topic: string;
  /** Set when the view reads an existing topic with the app's own schema (data source kind `kafka`). */
  source: KafkaDataSource | undefined;
}

/** Views keyed by the same join keys: one online-store request per entity row answers all of them. */
export interface EntityGroup {
  joinKeys: JoinKey[];
  views: ServingView[];
  viewNames: string[];
  /** Per view, the names of the features the plan reads (the same arrays on every request: see OnlineReadRequest). */
  viewFeatures: string[][];
}

/** One feature column of a response. */
export interface PlanColumn {
  /** `feature`, or `view__feature` with full feature names. */
  name: string;
  view: ServingView;
  feature: FeatureDefinition;
  /** Index of the view in `RetrievalPlan.slots`. */
  slot: number;
  encode: ValueEncoder;
  /** Where the feature sits in its view's `EntityGroup.viewFeatures` list (and so in a stored read's values). */
  storedIndex: number;
  encodeStored: StoredValueEncoder;
  /** encodeStored, from the stored text's bytes straight into the answer's buffer. */
  writeStored: StoredBytesWriter;
}

/** Where a view's values sit in the store reply of one entity row: request `group`, position `index`. */
export interface ViewSlot {
  view: ServingView;
  group: number;
  index: number;
}

/** Everything a request for one feature selection needs, compiled once per registry version. */
export interface RetrievalPlan {
  registryVersion: number;
  columns: PlanColumn[];
  groups: EntityGroup[];
  slots: ViewSlot[];
  /** How many columns each slot's view has in this plan. */
  columnsPerSlot: number[];
  /** Every join key the views need, by name. */
  joinKeys: Map<string, JoinKey>;
  /** The answer's start up to its first column (`metadata.feature_names`), per order of the request's join keys. */
  readonly headerCache: Map<string, Buffer>;
}

export type FeatureSelection = { featureService: string } | { features: readonly string[] };

/** Plans kept per registry version; past this, the cache starts over (plans are cheap to rebuild). */
export const MAX_CACHED_PLANS = 1_000;

/**
 * The registry as serving sees it at one version: views with their join keys, TTLs and topics,
 * feature services resolved ahead, and a cache of retrieval plans per feature selection, so a
 * request does no registry work beyond one map lookup.
 */
export class ServingCatalog {
  readonly version: number;
  private readonly views = new Map<string, ServingView>();
  private readonly services = new Map<string, ResolvedFeature[] | FeaturelogError>();
  private readonly plans = new Map<string, RetrievalPlan>();

  constructor(
    readonly project: string,
    readonly state: RegistryState,
  ) {
    this.version = state.version;
    for (const object of Object.values(state.objects)) {
      if (object.deleted || object.definition === null) continue;
      if (object.kind === 'feature_service') {
        try {
          this.services.set(object.name, resolveServiceFeatures(state, object.name));
        } catch (error) {
          // A service naming a deleted view stays known, and says why it cannot be served.
          this.services.set(object.name, asServiceError(object.name, state.version, error));
        }
      }
    }
  }

  /** Throws UNKNOWN_FEATURE_SERVICE, UNKNOWN_FEATURE_VIEW, UNKNOWN_FEATURE, INVALID_FEATURE_REFERENCE or FEATURE_NAME_COLLISION. */
  plan(selection: FeatureSelection, fullFeatureNames: boolean): RetrievalPlan {
    const cacheKey =
      'featureService' in selection
        ? `s\u0000${fullFeatureNames}\u0000${selection.featureService}`
        : `f\u0000${fullFeatureNames}\u0000${selection.features.join('\u0000')}`;
    let plan = this.plans.get(cacheKey);
    if (plan === undefined) {
      plan = this.compile(this.resolve(selection), fullFeatureNames);
      if (this.plans.size >= MAX_CACHED_PLANS) this.plans.clear();
      this.plans.set(cacheKey, plan);
    }
    return plan;
  }

  view(name: string): ServingView {
    let view = this.views.get(name);
    if (view === undefined) {
      const definition = requireDefinition(this.state, 'feature_view', name);
      const joinKeys = viewJoinKeys(this.state, definition);
      const found = definition.source === undefined ? undefined : getDataSource(this.state, definition.source);
      // File sources are ingested into the view's managed topic.
      const source = found?.kind === 'kafka' ? found : undefined;
      view = {
        name,
        definition,
        entities: definition.entities.map((entity) => requireDefinition(this.state, 'entity', entity)),
        joinKeys,
        ttlSeconds: definition.ttlSeconds,
        topic: source?.topic ?? topicNames.features(this.project, definition),
        source,
      };
      this.views.set(name, view);
    }
    return view;
  }

  private resolve(selection: FeatureSelection): ResolvedFeature[] {
    if ('featureService' in selection) {
      const resolved = this.services.get(selection.featureService);
      if (resolved === undefined) {
        throw new FeaturelogError(
          'UNKNOWN_FEATURE_SERVICE',
          `feature_service "${selection.featureService}" is not defined`,
        );
      }
      if (resolved instanceof FeaturelogError) throw resolved;
      return resolved;
    }
    return resolveFeatureReferences(this.state, selection.features);
  }

  private compile(features: ResolvedFeature[], fullFeatureNames: boolean): RetrievalPlan {
    const groups: EntityGroup[] = [];
    const slots: ViewSlot[] = [];
    const slotOfView = new Map<string, number>();
    const joinKeys = new Map<string, JoinKey>();
    const columns: PlanColumn[] = [];
    const nameOwners = new Map<string, string>();
    for (const { view: definition, feature, reference } of features) {
      let slot = slotOfView.get(definition.name);
      if (slot === undefined) {
        const view = this.view(definition.name);
        const groupKey = view.joinKeys
          .map((k) => k.name)
          .sort()
          .join(',');
        let group = groups.findIndex(
          (g) =>
            g.joinKeys
              .map((k) => k.name)
              .sort()
              .join(',') === groupKey,
        );
        if (group < 0) group = groups.push({ joinKeys: view.joinKeys, views: [], viewNames: [], viewFeatures: [] }) - 1;
        const entityGroup = groups[group]!;
        slot = slots.push({ view, group, index: entityGroup.views.length }) - 1;
        entityGroup.views.push(view);
        entityGroup.viewNames.push(view.name);
        entityGroup.viewFeatures.push([]);
        slotOfView.set(definition.name, slot);
        for (const key of view.joinKeys) {
          const known = joinKeys.get(key.name);
          if (known !== undefined && known.type !== key.type) {
            throw new FeaturelogError(
              'JOIN_KEY_TYPE_CONFLICT',
              `join key "${key.name}" is ${known.type} in one requested view and ${key.type} in view "${view.name}"`,
            );
          }
          joinKeys.set(key.name, key);
        }
      }
      const name = fullFeatureNames ? `${definition.name}__${feature.name}` : feature.name;
      const owner = nameOwners.get(name);
      if (owner !== undefined) {
        throw new FeaturelogError(
          'FEATURE_NAME_COLLISION',
          `features ${owner} and ${reference} would both be named "${name}"; set full_feature_names to true`,
        );
      }
      nameOwners.set(name, reference);
      const { group, index } = slots[slot]!;
      const wanted = groups[group]!.viewFeatures[index]!;
      let storedIndex = wanted.indexOf(feature.name);
      if (storedIndex < 0) storedIndex = wanted.push(feature.name) - 1;
      columns.push({
        name,
        view: slots[slot]!.view,
        feature,
        slot,
        encode: valueEncoderFor(feature.type),
        storedIndex,
        encodeStored: storedValueEncoderFor(feature.type),
        writeStored: storedBytesWriterFor(feature.type),
      });
    }
    for (const name of joinKeys.keys()) {
      if (nameOwners.has(name)) {
        throw new FeaturelogError(
          'FEATURE_NAME_COLLISION',
          `feature ${nameOwners.get(name)} has the name of join key "${name}"; set full_feature_names to true`,
        );
      }
    }
    const columnsPerSlot = slots.map((_, s) => columns.filter((c) => c.slot === s).length);
    return { registryVersion: this.version, columns, groups, slots, columnsPerSlot, joinKeys, headerCache: new Map() };
  }
}

function asServiceError(service: string, version: number, error: unknown): FeaturelogError {
  const reason = error instanceof Error ? error.message : String(error);
  return new FeaturelogError(
    'FEATURE_SERVICE_UNSERVABLE',
    `feature_service "${service}" cannot be served at registry version ${version}: ${reason}`,
    { cause: error },
  );
}

/** Builds catalogs for one project, rebuilding only when the registry version moves. */
export class CatalogSource {
  private catalog: ServingCatalog | undefined;

  constructor(
    private readonly project: string,
    private readonly registry: { readonly state: RegistryState; assertComplete(): void },
  ) {}

  /** Throws REGISTRY_INCOMPLETE (503) when the registry fold has holes. */
  current(): ServingCatalog {
    const state = this.registry.state;
    // The follower folds in place: the state object stays the same, its version moves.
    if (this.catalog?.state !== state || this.catalog.version !== state.version) {
      this.registry.assertComplete();
      this.catalog = new ServingCatalog(this.project, state);
    }
    return this.catalog;
  }
}
