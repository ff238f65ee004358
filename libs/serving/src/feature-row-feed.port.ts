import type { FeatureValue, RowVersion } from '@featurelog/domain';
import type { ServingView } from './serving-catalog';

/** One feature row as it was appended to a view's topic, decoded. */
export interface FeedRow {
  view: string;
  /** encodeEntityKey of the row's join keys (what the online store is keyed by). */
  entityKey: string;
  /** The same triple the materializer stores, so it compares with snapshot versions. */
  version: RowVersion;
  /** Join keys, event_timestamp, created_timestamp and every feature, in the domain representation. */
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
   * Delivers to `listener` every row of the view's topic appended after this call began (earlier
   * ones may come too; listeners compare versions), until the returned function is called.
   * Resolves once that starting point is fixed, so a snapshot read afterwards leaves no gap.
   */
  follow(view: ServingView, listener: FeedListener): Promise<() => void>;
  close(): Promise<void>;
}

export const FEATURE_ROW_FEED = Symbol('featurelog:FeatureRowFeed');
