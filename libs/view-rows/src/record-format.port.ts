import type { FeatureRow } from '@featurelog/avro';

/**
 * What one record of a source says: a row to upsert, or — for the change-data-capture formats
 * (Debezium) — the delete of an entity, whose row has the join keys and the time of the delete and no
 * features. `sourcePosition` is where the change sits in the source database's log (a PostgreSQL LSN, a
 * MySQL binlog file:position:row), when the format knows it.
 */
export interface SourceChange {
  op: 'upsert' | 'delete';
  row: FeatureRow;
  sourcePosition?: string;
}

/**
 * How the value bytes of one topic's records become rows of one view: one implementation per data-source
 * format (Confluent Avro, Kafka Connect JSON with or without schemas, Debezium envelopes, Debezium's
 * unwrapped rows; see recordFormatFor). A row is keyed by the view's row schema: each join key,
 * `event_timestamp` and `created_timestamp` in epoch microseconds, each feature by name.
 */
export interface ViewRecordFormat {
  /**
   * True when decoding already gives every value the view's type (Avro schema resolution to the view's
   * row schema), so only the timestamps' range is left to check; false when the record carries a
   * schema of its own (or none), whose values ViewRowDecoder checks against the view.
   */
  readonly typed: boolean;
  /**
   * True when a tombstone (a record without value) follows a delete the format already said (Debezium
   * writes one after each `op=d` for log compaction): it is then no change of its own. False: a
   * tombstone is poison, as on a feature topic.
   */
  readonly tombstonesFollowDeletes: boolean;
  /** Why a tombstone is refused, when the format says more than the default (a tombstone on a feature topic). */
  readonly tombstoneRefusal?: string;
  /**
   * Loads what decoding a batch needs (writer schemas). Throws only when retrying can help (a registry
   * that does not answer): whatever is wrong with one record makes that record poison in `decode`.
   */
  prepare(values: readonly Uint8Array[]): Promise<void>;
  /** The change of a prepared record; throws a non-retriable FeaturelogError for a poison record. */
  decode(value: Uint8Array): SourceChange;
}
