import type { FeatureRow } from '@featurelog/avro';

/**
 * How the value bytes of one topic's records become rows of one view: one implementation per data-source
 * format (today Confluent Avro, see recordFormatFor; Kafka Connect JSON or Debezium envelopes would be
 * others). A row is keyed by the view's row schema: each join key, `event_timestamp` and
 * `created_timestamp` in epoch microseconds, each feature by name.
 */
export interface ViewRecordFormat {
  /**
   * True when decoding already gives every value the view's type (Avro schema resolution to the view's
   * row schema), so only the timestamps' range is left to check; false when the record carries a
   * schema of its own, whose values ViewRowDecoder checks against the view.
   */
  readonly typed: boolean;
  /**
   * Loads what decoding a batch needs (writer schemas). Throws only when retrying can help (a registry
   * that does not answer): whatever is wrong with one record makes that record poison in `decode`.
   */
  prepare(values: readonly Uint8Array[]): Promise<void>;
  /** The row of a prepared record; throws a non-retriable FeaturelogError for a poison record. */
  decode(value: Uint8Array): FeatureRow;
}
