import {
  encodeEntityKey,
  FeaturelogError,
  getDataSource,
  topicNames,
  validateFeatureValue,
  validateTimestampMicros,
  viewJoinKeys,
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
  type WriterSchemaSource,
} from '@featurelog/avro';
import type { LogRecord } from '@featurelog/log';
import type { OnlineRow } from '@featurelog/online-store';

/** How long the online store keeps a row after its event timestamp, as a multiple of the view's TTL. */
export const DEFAULT_RETENTION_TTL_MULTIPLE = 2;

/**
 * How the records of one topic become online rows of one view, for the view's current definition.
 *
 * - A managed topic carries the view's row schema: a record is decoded with its writer schema (by the
 *   id in its wire header) resolved to the view's CURRENT row schema, so producers still on an older,
 *   backward-compatible schema keep working.
 * - An existing topic (data source kind `kafka`) carries the app's own schema: a record is decoded with
 *   its writer schema as is, then mapped by sourceRowMapper (field mapping, timestamp fields), and every
 *   value is checked against the view's types, since no schema resolution did it.
 *
 * `prepare` fetches the writer schemas a batch needs (a registry that does not answer fails it as
 * retriable); `toRow` is then synchronous and throws a non-retriable FeaturelogError for a poison record.
 */
export class ViewProjection {
  readonly topic: string;
  readonly joinKeys: readonly JoinKey[];
  private readonly reader: ReaderSchema;
  private readonly featureNames: readonly string[];
  private readonly ttlSeconds: number | undefined;
  private readonly source: KafkaDataSource | undefined;
  /** Kafka sources only: the decode step shared with the compactor, exports and backfills. */
  private readonly sourceDecoder: SourceRecordDecoder | undefined;

  constructor(
    readonly view: FeatureViewDefinition,
    private readonly entities: readonly EntityDefinition[],
    source: KafkaDataSource | undefined,
    project: string,
    private readonly decoder: RowDecoder,
    schemas: WriterSchemaSource,
    retentionTtlMultiple: number,
  ) {
    this.source = source;
    this.sourceDecoder =
      source === undefined ? undefined : new SourceRecordDecoder(source, view, entities, decoder, schemas);
    this.topic = source?.topic ?? topicNames.features(project, view);
    this.joinKeys = viewJoinKeys(entities, view);
    this.reader = readerSchema(rowSchemaFor(view, entities, project));
    this.featureNames = view.features.map((feature) => feature.name);
    this.ttlSeconds =
      view.ttlSeconds > 0 && retentionTtlMultiple > 0 ? Math.ceil(view.ttlSeconds * retentionTtlMultiple) : undefined;
  }

  /**
   * The projection of every ONLINE view of the registry, keyed by the topic it reads. Views whose
   * definitions are broken (an entity or data source missing) are left out and reported.
   */
  static forRegistry(
    state: RegistryState,
    project: string,
    make: (
      view: FeatureViewDefinition,
      entities: EntityDefinition[],
      source: KafkaDataSource | undefined,
    ) => ViewProjection,
    problems: (view: string, error: unknown) => void,
  ): Map<string, ViewProjection> {
    const projections = new Map<string, ViewProjection>();
    for (const object of Object.values(state.objects)) {
      if (object.kind !== 'feature_view' || object.deleted || object.definition === null) continue;
      const view = object.definition as FeatureViewDefinition;
      if (!view.online) continue;
      try {
        const entities = view.entities.map((name) => {
          const entity = state.objects[`entity/${name}`];
          if (entity === undefined || entity.deleted || entity.definition === null) {
            throw new FeaturelogError('UNKNOWN_ENTITY', `entity "${name}" is not defined`);
          }
          return entity.definition as EntityDefinition;
        });
        let source: KafkaDataSource | undefined;
        if (view.source !== undefined) {
          const found = getDataSource(state, view.source);
          if (found === undefined) {
            throw new FeaturelogError('UNKNOWN_DATA_SOURCE', `data source "${view.source}" is not defined`);
          }
          // File sources are ingested into the view's managed topic.
          if (found.kind === 'kafka') source = found;
        }
        const projection = make(view, entities, source);
        const taken = projections.get(projection.topic);
        if (taken !== undefined) {
          throw new FeaturelogError(
            'TOPIC_SHARED',
            `view "${view.name}" reads ${projection.topic}, already read by view "${taken.view.name}"`,
          );
        }
        projections.set(projection.topic, projection);
      } catch (error) {
        problems(view.name, error);
      }
    }
    return projections;
  }

  /** Whether `other` was built from the very same definitions (they are replaced, never mutated, on apply). */
  sameAs(other: ViewProjection): boolean {
    return (
      this.view === other.view &&
      this.source === other.source &&
      this.entities.length === other.entities.length &&
      this.entities.every((entity, i) => entity === other.entities[i])
    );
  }

  /** Fetches the writer schemas of these records. Throws (retriable) only when the registry cannot answer. */
  async prepare(records: readonly LogRecord[]): Promise<void> {
    if (this.sourceDecoder !== undefined) {
      try {
        await this.sourceDecoder.prepare(records.flatMap(({ value }) => (value === null ? [] : [value])));
      } catch (error) {
        throw retriable(error, `fetching writer schemas for ${this.topic}`);
      }
      return;
    }
    try {
      // An id the registry does not know makes its records poison (toRow throws), not the batch.
      await this.decoder.loadAll(records.flatMap(({ value }) => (value === null ? [] : [value])));
    } catch (error) {
      throw retriable(error, `fetching writer schemas for ${this.topic}`);
    }
  }

  /** The online row of a record, or a non-retriable FeaturelogError saying why the record is poison. */
  toRow(record: LogRecord, project: string): OnlineRow {
    const value = record.value;
    if (value === null) {
      throw new FeaturelogError('RECORD_VALUE_MISSING', `record has no value (a tombstone on a feature topic)`);
    }
    let row: FeatureRow;
    if (this.sourceDecoder === undefined) {
      row = this.decoder.decodeLoaded(value, this.reader);
    } else {
      row = this.sourceDecoder.decode(value);
    }
    const eventTimestamp = row.event_timestamp;
    const eventProblem = validateTimestampMicros(eventTimestamp, 'event_timestamp');
    if (eventProblem !== undefined) throw new FeaturelogError('INVALID_TIMESTAMP', eventProblem);
    const created = row.created_timestamp ?? null;
    if (created !== null) {
      const createdProblem = validateTimestampMicros(created, 'created_timestamp');
      if (createdProblem !== undefined) throw new FeaturelogError('INVALID_TIMESTAMP', createdProblem);
    }
    const features: Record<string, FeatureValue> = {};
    for (const name of this.featureNames) features[name] = row[name] ?? null;
    if (this.source !== undefined) this.checkSourceValues(features);
    const online: OnlineRow = {
      project,
      entityKey: encodeEntityKey(this.joinKeys, row),
      view: this.view.name,
      version: {
        eventTimestamp: eventTimestamp as number,
        createdTimestamp: created as number | null,
        position: { partition: record.partition, offset: record.offset },
      },
      features,
    };
    if (this.ttlSeconds !== undefined) online.ttlSeconds = this.ttlSeconds;
    return online;
  }

  /** Avro resolution types the values of managed topics; an app's own schema may carry anything. */
  private checkSourceValues(features: Record<string, FeatureValue>): void {
    for (const feature of this.view.features) {
      const problem = validateFeatureValue(feature.type, features[feature.name], feature.name);
      if (problem !== undefined) {
        throw new FeaturelogError(
          'SOURCE_TYPE_MISMATCH',
          `${this.topic} does not resolve to view "${this.view.name}": ${problem}`,
        );
      }
    }
  }
}

export function retriable(error: unknown, doing: string): FeaturelogError {
  if (error instanceof FeaturelogError && error.retriable) return error;
  return new FeaturelogError(
    'MATERIALIZER_DEPENDENCY_FAILED',
    `${doing}: ${error instanceof Error ? error.message : String(error)}`,
    { retriable: true, cause: error },
  );
}
