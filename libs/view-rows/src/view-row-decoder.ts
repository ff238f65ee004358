import {
  encodeEntityKey,
  FeaturelogError,
  validateRow,
  validateTimestampMicros,
  type FeatureValue,
  type RowVersion,
} from '@featurelog/domain';
import type { FeatureRow, RowDecoder, WriterSchemaSource } from '@featurelog/avro';
import type { LogRecord } from '@featurelog/log';
import { recordFormatFor } from './confluent-avro-format.adapter';
import type { ViewRecordFormat } from './record-format.port';
import type { ResolvedView } from './resolved-view';

/** A log record as a row of its view, before any store's layout (online row, segment row). */
export interface ViewRow {
  /** Each join key of the view, by name. */
  joinKeys: Record<string, FeatureValue>;
  /** Epoch microseconds, UTC, within 1970..9999. */
  eventTimestamp: number;
  createdTimestamp: number | null;
  /** Each feature of the view, by name; absent is null. */
  features: Record<string, FeatureValue>;
}

/**
 * What one record of a view's topic says: a row to upsert; the delete of an entity (from change data
 * capture: its row has the join keys and the time of the delete, every feature null); or a tombstone
 * that follows a delete already said (Debezium's, for log compaction), which changes nothing.
 * `sourcePosition` is where the change sits in the source database's log, when the format knows it.
 */
export type ViewChange = { op: 'upsert' | 'delete'; row: ViewRow; sourcePosition?: string } | { op: 'tombstone' };

/**
 * The version of a record's row: what decides, against another row of its entity, which one wins.
 * `sourcePosition` is the change's (ViewChange), when its format knows it.
 */
export function rowVersion(
  row: ViewRow,
  record: Pick<LogRecord, 'partition' | 'offset'>,
  sourcePosition?: string,
): RowVersion {
  const version: RowVersion = {
    eventTimestamp: row.eventTimestamp,
    createdTimestamp: row.createdTimestamp,
    position: { partition: record.partition, offset: record.offset },
  };
  if (sourcePosition !== undefined) version.sourcePosition = sourcePosition;
  return version;
}

const TOMBSTONE: ViewChange = Object.freeze({ op: 'tombstone' });

/** Codes of the row problems (validateRow) a record of an app's own schema is refused with. */
const SOURCE_PROBLEM_CODES: Record<string, string> = {
  MISSING_JOIN_KEY: 'MISSING_JOIN_KEY',
  INVALID_TIMESTAMP: 'INVALID_TIMESTAMP',
  INVALID_VALUE: 'SOURCE_TYPE_MISMATCH',
};

/**
 * The one decoder from a record of a view's topic to a row of the view, shared by every reader of the
 * log (the materializer's online rows, the compactor's and the exports' segment rows, serving
 * subscriptions, backfills, the DLQ's redrive check), so that they all take and refuse the same records
 * for the same reasons:
 *
 * - the record's bytes are decoded by the format of the view's data source (recordFormatFor): Confluent
 *   Avro, Kafka Connect JSON with or without schemas, Debezium change events or unwrapped rows;
 * - a record of a change-data-capture format may delete an entity (decodeChange; `decode`, for readers
 *   that do not apply deletes, refuses it as DELETE_NOT_APPLIED);
 * - a tombstone (no value) is RECORD_VALUE_MISSING, except after a Debezium delete (decodeChange);
 * - a row of the view's own schema was typed by schema resolution: only its timestamps' range is checked
 *   (INVALID_TIMESTAMP);
 * - a row of an app's own schema is checked against the view (validateRow): a join key missing is
 *   MISSING_JOIN_KEY, a timestamp out of range INVALID_TIMESTAMP, a value of another type
 *   SOURCE_TYPE_MISMATCH, the first problem naming the code and the message naming them all.
 *
 * `prepare` loads the writer schemas a batch needs and throws only when the registry cannot answer (an
 * outage, retriable); `decode` is then synchronous and throws a non-retriable FeaturelogError for a
 * poison record (a malformed wire header, an unknown writer schema, an undecodable body, an invalid row).
 */
export class ViewRowDecoder {
  readonly topic: string;
  private readonly format: ViewRecordFormat;
  private readonly featureNames: readonly string[];

  constructor(
    readonly view: ResolvedView,
    project: string,
    /** The writer schemas fetched so far: shared by the decoders of one consumer, so each is fetched once. */
    readonly decoder: RowDecoder,
    schemas: WriterSchemaSource,
  ) {
    this.topic = view.topic;
    this.format = recordFormatFor(view, project, decoder, schemas);
    this.featureNames = view.definition.features.map((feature) => feature.name);
  }

  /** Whether `other` decodes for the very same definitions (they are replaced, never mutated, on apply). */
  sameAs(other: ViewRowDecoder): boolean {
    const a = this.view;
    const b = other.view;
    return (
      a.definition === b.definition &&
      a.source === b.source &&
      a.entities.length === b.entities.length &&
      a.entities.every((entity, i) => entity === b.entities[i])
    );
  }

  /**
   * Fetches the writer schemas of these records. Throws (retriable) only when the registry cannot answer:
   * an id it does not know makes its records poison in `decode`, not the batch.
   */
  async prepare(records: readonly Pick<LogRecord, 'value'>[]): Promise<void> {
    try {
      await this.format.prepare(records.flatMap(({ value }) => (value === null ? [] : [value])));
    } catch (error) {
      if (error instanceof FeaturelogError && error.retriable) throw error;
      throw new FeaturelogError(
        'WRITER_SCHEMAS_UNAVAILABLE',
        `fetching writer schemas for ${this.topic}: ${error instanceof Error ? error.message : String(error)}`,
        { retriable: true, cause: error },
      );
    }
  }

  /**
   * The row of a prepared record that upserts, or a non-retriable FeaturelogError saying why the record is
   * poison. For the readers that do not apply deletes: a delete (change data capture) is
   * DELETE_NOT_APPLIED, so that it is dead-lettered or reported rather than taken for an upsert of nulls,
   * and a tombstone is RECORD_VALUE_MISSING.
   */
  decode(value: Uint8Array | null): ViewRow {
    return this.upsertOf(this.decodeChange(value));
  }

  /** The row of an upsert; a delete or a tombstone refused as `decode` refuses them. */
  upsertOf(change: ViewChange): ViewRow {
    if (change.op === 'upsert') return change.row;
    if (change.op === 'tombstone') {
      throw new FeaturelogError(
        'RECORD_VALUE_MISSING',
        `record has no value (the tombstone after a delete on ${this.topic}, which this reader does not apply)`,
      );
    }
    throw new FeaturelogError(
      'DELETE_NOT_APPLIED',
      `record deletes ${this.entityKey(change.row)} of view "${this.view.definition.name}" at ` +
        `${new Date(change.row.eventTimestamp / 1000).toISOString()}, and this reader does not apply deletes yet`,
    );
  }

  /**
   * What a prepared record says (see ViewChange), or a non-retriable FeaturelogError saying why the record
   * is poison: a tombstone on a topic whose format has none (a feature topic) is RECORD_VALUE_MISSING.
   */
  decodeChange(value: Uint8Array | null): ViewChange {
    if (value === null) {
      if (this.format.tombstonesFollowDeletes) return TOMBSTONE;
      throw new FeaturelogError(
        'RECORD_VALUE_MISSING',
        this.format.tombstoneRefusal ?? `record has no value (a tombstone on a feature topic)`,
      );
    }
    const change = this.format.decode(value);
    const row = change.row;
    if (this.format.typed) this.checkTimestamps(row);
    else this.checkRow(row);
    const joinKeys: Record<string, FeatureValue> = {};
    for (const key of this.view.joinKeys) joinKeys[key.name] = row[key.name] ?? null;
    const features: Record<string, FeatureValue> = {};
    for (const name of this.featureNames) features[name] = row[name] ?? null;
    const viewRow: ViewRow = {
      joinKeys,
      eventTimestamp: row.event_timestamp as number,
      createdTimestamp: (row.created_timestamp as number | null | undefined) ?? null,
      features,
    };
    if (change.sourcePosition === undefined) return { op: change.op, row: viewRow };
    return { op: change.op, row: viewRow, sourcePosition: change.sourcePosition };
  }

  /** The entity key of a decoded row, as the log and the online store encode it. */
  entityKey(row: ViewRow): string {
    return encodeEntityKey(this.view.joinKeys, row.joinKeys);
  }

  private checkTimestamps(row: FeatureRow): void {
    const eventProblem = validateTimestampMicros(row.event_timestamp, 'event_timestamp');
    if (eventProblem !== undefined) throw new FeaturelogError('INVALID_TIMESTAMP', eventProblem);
    const created = row.created_timestamp ?? null;
    if (created === null) return;
    const createdProblem = validateTimestampMicros(created, 'created_timestamp');
    if (createdProblem !== undefined) throw new FeaturelogError('INVALID_TIMESTAMP', createdProblem);
  }

  /** No schema resolution typed an app's own record: check it against the view. */
  private checkRow(row: FeatureRow): void {
    const problems = validateRow(this.view.definition, this.view.joinKeys, row);
    if (problems.length === 0) return;
    throw new FeaturelogError(
      SOURCE_PROBLEM_CODES[problems[0]!.code] ?? 'SOURCE_TYPE_MISMATCH',
      `${this.topic} does not resolve to view "${this.view.definition.name}": ` +
        problems.map((problem) => problem.message).join('; '),
    );
  }
}

/** A log record that cannot become a row, and why (reported, never written). */
export interface UnreadableRecord {
  partition: number;
  offset: number;
  code: string;
  reason: string;
}

/** How a record that failed to decode is reported: the FeaturelogError's code, else ROW_UNREADABLE. */
export function unreadableRecord(record: Pick<LogRecord, 'partition' | 'offset'>, error: unknown): UnreadableRecord {
  return {
    partition: record.partition,
    offset: record.offset,
    code: error instanceof FeaturelogError ? error.code : 'ROW_UNREADABLE',
    reason: error instanceof Error ? error.message : String(error),
  };
}
