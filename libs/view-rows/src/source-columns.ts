import {
  CREATED_TIMESTAMP_FIELD,
  EVENT_TIMESTAMP_FIELD,
  type FeatureRow,
  type KafkaDataSource,
} from '@featurelog/avro';
import {
  viewJoinKeys,
  type EntityDefinition,
  type FeatureValue,
  type FeatureViewDefinition,
  type ValueType,
} from '@featurelog/domain';
import { columnValue, type BytesEncoding } from './column-values';
import type { ColumnType } from './connect-types';

/** One column of a source record: its type (null when the record has no schema) and its raw value. */
export interface SourceColumn {
  type: ColumnType | null;
  value: unknown;
}

/** How a format looks a field up in one record: undefined when the record has no such field. */
export type ColumnLookup = (field: string) => SourceColumn | undefined;

/**
 * The columns a view takes from the records of a `kafka` source that carry their own schema (or none),
 * the same mapping as for Avro sources (sourceRowMapper): each join key and feature `c` takes the source
 * field mapped to it by `fieldMapping` (`{ sourceField: c }`), else the field named `c`; absent is null;
 * `event_timestamp` comes from `timestampField` (unless the format says when, as Debezium does), and
 * `created_timestamp` from `createdTimestampField`, else null. Values are turned into the view's by
 * columnValue.
 */
export class SourceColumns {
  /** [view column, source field, view type] for each join key and feature. */
  private readonly columns: ReadonlyArray<readonly [string, string, ValueType]>;
  /** The source fields the view reads (a logical type featurelog does not know matters only in those). */
  readonly fields: ReadonlySet<string>;
  private readonly keyCount: number;
  /** The view's join keys, by name. */
  readonly joinKeys: readonly string[];

  constructor(
    readonly source: KafkaDataSource,
    view: FeatureViewDefinition,
    entities: readonly EntityDefinition[],
    private readonly bytes: BytesEncoding,
  ) {
    const joinKeys = viewJoinKeys(entities, view);
    this.keyCount = joinKeys.length;
    this.joinKeys = joinKeys.map((key) => key.name);
    const inverse = new Map<string, string>();
    for (const [from, to] of Object.entries(source.fieldMapping ?? {})) inverse.set(to, from);
    this.columns = [...joinKeys, ...view.features].map(
      (column) => [column.name, inverse.get(column.name) ?? column.name, column.type] as const,
    );
    this.fields = new Set([
      ...this.columns.map(([, field]) => field),
      source.timestampField,
      ...(source.createdTimestampField === undefined ? [] : [source.createdTimestampField]),
    ]);
  }

  /** The view row of a record; `eventMicros` when the format says when (else from timestampField). */
  row(lookup: ColumnLookup, eventMicros?: FeatureValue): FeatureRow {
    const row: FeatureRow = {};
    for (const [name, field, type] of this.columns) row[name] = this.value(lookup, field, type);
    row[EVENT_TIMESTAMP_FIELD] = eventMicros ?? this.eventTime(lookup);
    const created = this.source.createdTimestampField;
    row[CREATED_TIMESTAMP_FIELD] = created === undefined ? null : this.value(lookup, created, 'timestamp');
    return row;
  }

  /**
   * The row of a delete: the join keys (from what the source still says of the deleted row: Debezium's
   * `before`), the time of the delete, every feature null, no created timestamp (a delete is known
   * when it happened).
   */
  deleteRow(lookup: ColumnLookup, eventMicros: FeatureValue): FeatureRow {
    const row: FeatureRow = {};
    this.columns.forEach(([name, field, type], i) => {
      // What is left of a deleted row's features is no value of the view: only its keys are read.
      row[name] = i < this.keyCount ? this.value(lookup, field, type) : null;
    });
    row[EVENT_TIMESTAMP_FIELD] = eventMicros;
    row[CREATED_TIMESTAMP_FIELD] = null;
    return row;
  }

  /** The event time of a record by `timestampField`, in epoch µs (or as found, for validation to name). */
  eventTime(lookup: ColumnLookup): FeatureValue {
    return this.value(lookup, this.source.timestampField, 'timestamp');
  }

  private value(lookup: ColumnLookup, field: string, type: ValueType) {
    const column = lookup(field);
    return column === undefined ? null : columnValue(type, column.type, column.value, field, this.bytes);
  }
}
