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
}

export interface FeedListener {
  rows(rows: readonly FeedRow[]): void;
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
   * than once and out of order: listeners compare versions. A snapshot read after this resolves
   * therefore leaves no gap.
   */
  follow(view: ServingView, listener: FeedListener): Promise<() => void>;
  close(): Promise<void>;
}

export const FEATURE_ROW_FEED = Symbol('featurelog:FeatureRowFeed');
