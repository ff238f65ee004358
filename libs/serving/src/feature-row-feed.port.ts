import type { FeatureValue, RowVersion } from '@featurelog/domain';
import type { ServingView } from './serving-catalog';

/** One feature row as it was appended to a view's topic, decoded. */
export interface FeedRow {
  view: string;
  /** encodeEntityKey of the row's join keys (what the online store is keyed by). */
  entityKey: string;
  /** The same triple the materializer stores, so it compares with snapshot versions. */
  version: RowVersion;
  /** Every feature of the view, in the domain representation (null when absent). */
  row: Record<string, FeatureValue>;
  /**
   * The row deletes the entity's values of the view (change data capture): if it wins, the view is
   * absent for the entity (NOT_FOUND, as the online store then reads it), its values all null.
   */
  deleted?: boolean;
}

/** Where a listener stands in one partition: every record before `nextOffset` was handed to it. */
export interface FeedPosition {
  topic: string;
  partition: number;
  nextOffset: number;
}

export interface FeedListener {
  /**
   * Rows, in log order within a partition; `position`, when given, is where the listener stands in
   * that partition after them (records that gave no row count too). An empty `rows` may come just to
   * say where it stands (when following starts, and after records that gave none).
   */
  rows(rows: readonly FeedRow[], position?: FeedPosition): void;
  /** The feed stopped for good (log unavailable): the listener will get no more rows. */
  failed(error: Error): void;
}

/**
 * The live rows of views' topics, for subscriptions. Implemented over the event log and the
 * schema registry (LogFeatureRowFeed); small enough to fake in tests.
 */
export interface FeatureRowFeed {
  /**
   * Delivers to `listener` every row of the view's topic that the online store may not hold yet when
   * this call resolves (from the materializer's checkpoint on, or from the topic's end when it has
   * none), then every row appended later, until the returned function is called. Rows may come more
   * than once and across partitions in any order: listeners compare versions. A snapshot read after
   * this resolves therefore leaves no gap.
   *
   * With `from` (partition → offset, for every partition of the topic), every row from those offsets
   * on instead, each once, in log order per partition: a subscriber resuming where it stood. Throws
   * RESUME_POSITION_UNAVAILABLE (not retriable: start afresh) when that cannot be served.
   */
  follow(view: ServingView, listener: FeedListener, from?: ReadonlyMap<number, number>): Promise<() => void>;
  close(): Promise<void>;
}

export const FEATURE_ROW_FEED = Symbol('featurelog:FeatureRowFeed');
