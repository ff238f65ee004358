import {
  canonicalJson,
  FeaturelogError,
  getDataSource,
  getEntity,
  listDefinitions,
  pushDestinationOf,
  PUSH_TO_HEADER,
  requireDefinition,
  topicNames,
  validateRow,
  viewJoinKeys,
  type DataSourceDefinition,
  type DefinitionSource,
  type EntityDefinition,
  type FeatureValue,
  type FeatureViewDefinition,
  type JoinKey,
  type RegistryState,
} from '@featurelog/domain';
import {
  readerSchema,
  rowSchemaFor,
  SourceRecordDecoder,
  type FeatureRow,
  type KafkaDataSource,
  type ReaderSchema,
  type RowDecoder,
  type SchemaRegistryPort,
} from '@featurelog/avro';
import type { LogRecord } from '@featurelog/log';
import { segmentSchemaFor, type SegmentRow, type SegmentSchema } from '@featurelog/offline-store';

/**
 * The name a view's segments are filed under (directory, `view` of segment events): the view's name, with
 * `.v<n>` from version 2 like its topic. A new version reads a new topic whose offsets start again at 0,
 * so its segments must not share a catalog entry with the old version's.
 */
export function offlineViewKey(view: Pick<FeatureViewDefinition, 'name' | 'version'>): string {
  return view.version > 1 ? `${view.name}.v${view.version}` : view.name;
}

/** An offline view as the compactor consumes it, resolved against one registry state. */
export interface OfflineView {
  key: string;
  topic: string;
  definition: FeatureViewDefinition;
  entities: EntityDefinition[];
  joinKeys: JoinKey[];
  /** Set when the view reads an existing topic with its own schema. */
  source?: KafkaDataSource;
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
    const dataSource = definition.source === undefined ? undefined : getDataSource(state, definition.source);
    const view = buildOfflineView(project, definition, entities, dataSource?.kind === 'kafka' ? dataSource : undefined);
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
  const entities = definition.entities.map((name) => requireDefinition(definitions, 'entity', name));
  let source: KafkaDataSource | undefined;
  if (definition.source !== undefined) {
    const dataSource = getDataSource(definitions, definition.source);
    if (dataSource === undefined) {
      throw new FeaturelogError(
        'UNKNOWN_DATA_SOURCE',
        `feature view "${definition.name}" reads data source "${definition.source}", which is not defined`,
      );
    }
    // Managed and file sources are ingested into the view's managed topic.
    if (dataSource.kind === 'kafka') source = dataSource;
  }
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
    topics.add(source?.kind === 'kafka' ? source.topic : topicNames.features(project, current));
  }
  return [...topics];
}

function topicOf(definitions: DefinitionSource, project: string, view: FeatureViewDefinition): string {
  const source = view.source === undefined ? undefined : getDataSource(definitions, view.source);
  return source?.kind === 'kafka' ? source.topic : topicNames.features(project, view);
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
    topic: source?.topic ?? topicNames.features(project, definition),
    definition,
    entities,
    joinKeys: viewJoinKeys(entities, definition),
    ...(source === undefined ? {} : { source }),
    fingerprint: canonicalJson({ definition, entities, source: source ?? null }),
  };
}

/** A log record that cannot become a row, and why (reported, never written). */
export interface UnreadableRecord {
  partition: number;
  offset: number;
  code: string;
  reason: string;
}

/**
 * Turns feature-topic records into segment rows. A managed topic's records are decoded with their writer
 * schema (from the registry, cached) resolved to the view's current row schema. An existing topic's
 * records are decoded with their writer schema as is and mapped by sourceRowMapper, exactly as the
 * materializer does, then checked against the view's types (no schema resolution did it).
 */
export class SegmentRowReader {
  /** Kafka sources only: the decode step shared with the materializer, for the decoder it loads schemas into. */
  private sourceDecoder: { decoder: RowDecoder; source: SourceRecordDecoder } | undefined;

  private constructor(
    readonly view: OfflineView,
    readonly schema: SegmentSchema,
    private readonly reader: ReaderSchema | undefined,
    private readonly schemas: SchemaRegistryPort,
    private readonly skipPushedFor: 'online' | 'offline',
  ) {}

  /**
   * `forStore`: the store the rows are for. Segments (and exports, which read segments plus the log tail)
   * are for the offline store, so rows pushed for the online store only are left out; a backfill from the
   * log is for the online store and leaves out rows pushed for the offline store only.
   */
  static open(
    view: OfflineView,
    schemas: SchemaRegistryPort,
    project: string,
    { forStore = 'offline' }: { forStore?: 'offline' | 'online' } = {},
  ): SegmentRowReader {
    const schema = { ...segmentSchemaFor(view.definition, view.entities), view: view.key };
    const reader =
      view.source === undefined ? readerSchema(rowSchemaFor(view.definition, view.entities, project)) : undefined;
    return new SegmentRowReader(view, schema, reader, schemas, forStore === 'offline' ? 'online' : 'offline');
  }

  /**
   * The rows of `records`, in order; null for a tombstone, a row pushed for the other store only (see
   * `open`), or an unreadable record (then listed in `unreadable`). Loads the writer schemas first, so a
   * registry outage fails the whole batch (retriable).
   */
  async read(
    decoder: RowDecoder,
    records: readonly LogRecord[],
    unreadable: UnreadableRecord[],
  ): Promise<(SegmentRow | null)[]> {
    const values = records.flatMap((record) => (record.value === null ? [] : [record.value]));
    if (this.view.source === undefined) {
      await decoder.loadAll(values);
    } else {
      if (this.sourceDecoder?.decoder !== decoder) {
        const { source, definition, entities } = this.view;
        this.sourceDecoder = {
          decoder,
          source: new SourceRecordDecoder(source, definition, entities, decoder, this.schemas),
        };
      }
      await this.sourceDecoder.source.prepare(values);
    }
    return records.map((record) => {
      // Pushed with `to: online` (for segments): in the log for the online store only; the offset still counts as covered.
      if (record.value === null || pushDestinationOf(record.headers[PUSH_TO_HEADER]) === this.skipPushedFor) {
        return null;
      }
      try {
        return this.toSegmentRow(this.decode(decoder, record.value), record);
      } catch (error) {
        if (error instanceof FeaturelogError && error.retriable) throw error;
        unreadable.push({
          partition: record.partition,
          offset: record.offset,
          code: error instanceof FeaturelogError ? error.code : 'ROW_UNREADABLE',
          reason: error instanceof Error ? error.message : String(error),
        });
        return null;
      }
    });
  }

  private decode(decoder: RowDecoder, value: Buffer): FeatureRow {
    if (this.reader !== undefined) return decoder.decodeLoaded(value, this.reader);
    // No schema resolution typed an app's own record: check it against the view.
    const row = this.sourceDecoder!.source.decode(value);
    const problems = validateRow(this.view.definition, this.view.joinKeys, row);
    if (problems.length > 0) {
      throw new FeaturelogError('ROW_INVALID', problems.map((problem) => problem.message).join('; '));
    }
    return row;
  }

  toSegmentRow(row: FeatureRow, record: Pick<LogRecord, 'partition' | 'offset' | 'timestamp'>): SegmentRow {
    const joinKeys: Record<string, FeatureValue> = {};
    for (const key of this.schema.joinKeys) joinKeys[key.name] = row[key.name] ?? null;
    const features: Record<string, FeatureValue> = {};
    for (const feature of this.schema.features) features[feature.name] = row[feature.name] ?? null;
    return {
      joinKeys,
      eventTimestamp: row.event_timestamp as number,
      createdTimestamp: (row.created_timestamp as number | null | undefined) ?? null,
      partition: record.partition,
      offset: record.offset,
      appendTime: record.timestamp * 1000,
      features,
    };
  }
}
