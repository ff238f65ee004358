import {
  FeaturelogError,
  type EntityDefinition,
  type FeatureViewDefinition,
  type JoinKey,
  type RegistryState,
} from '@featurelog/domain';
import type { KafkaDataSource, RowDecoder, WriterSchemaSource } from '@featurelog/avro';
import type { LogRecord } from '@featurelog/log';
import type { OnlineRow } from '@featurelog/online-store';
import { resolvedView, resolveView, rowVersion, ViewRowDecoder } from '@featurelog/view-rows';

/** How long the online store keeps a row after its event timestamp, as a multiple of the view's TTL. */
export const DEFAULT_RETENTION_TTL_MULTIPLE = 2;

/**
 * How the records of one topic become online rows of one view, for the view's current definition: the
 * records are decoded by the one decoder every reader of the log shares (ViewRowDecoder: managed topics by
 * schema resolution to the view's current row schema, existing topics by the data source's mapping, rows
 * checked), and each row becomes an online row with its version and the view's retention.
 *
 * `prepare` fetches the writer schemas a batch needs (a registry that does not answer fails it as
 * retriable); `toRow` is then synchronous and throws a non-retriable FeaturelogError for a poison record.
 */
export class ViewProjection {
  readonly topic: string;
  readonly joinKeys: readonly JoinKey[];
  private readonly rows: ViewRowDecoder;
  private readonly ttlSeconds: number | undefined;

  constructor(
    readonly view: FeatureViewDefinition,
    entities: EntityDefinition[],
    source: KafkaDataSource | undefined,
    project: string,
    decoder: RowDecoder,
    schemas: WriterSchemaSource,
    retentionTtlMultiple: number,
  ) {
    this.rows = new ViewRowDecoder(resolvedView(project, view, entities, source), project, decoder, schemas);
    this.topic = this.rows.topic;
    this.joinKeys = this.rows.view.joinKeys;
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
        const { entities, source } = resolveView(state, project, view);
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
    return this.rows.sameAs(other.rows);
  }

  /** Fetches the writer schemas of these records. Throws (retriable) only when the registry cannot answer. */
  prepare(records: readonly LogRecord[]): Promise<void> {
    return this.rows.prepare(records);
  }

  /**
   * The online row of a record, or a non-retriable FeaturelogError saying why the record is poison; null
   * for the tombstone that follows a delete (Debezium's), which changes nothing of its own.
   *
   * A delete (change data capture) is a deleted online row with the delete's version: when it wins, the
   * entity's values of the view are gone (NOT_FOUND), and an older upsert cannot bring them back.
   */
  toRow(record: LogRecord, project: string): OnlineRow | null {
    const change = this.rows.decodeChange(record.value);
    if (change.op === 'tombstone') return null;
    const { row } = change;
    const online: OnlineRow = {
      project,
      entityKey: this.rows.entityKey(row),
      view: this.view.name,
      version: rowVersion(row, record, change.sourcePosition),
      features: change.op === 'delete' ? {} : row.features,
    };
    if (change.op === 'delete') online.deleted = true;
    if (this.ttlSeconds !== undefined) online.ttlSeconds = this.ttlSeconds;
    return online;
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
