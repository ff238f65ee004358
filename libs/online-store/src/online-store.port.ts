import type { FeatureValue, RowVersion } from '@featurelog/domain';

/** Injection token an app binds to one adapter (Redis in production, classic-level embedded). */
export const ONLINE_STORE = Symbol.for('featurelog.OnlineStore');

/**
 * The layout of the stored values this code reads and writes (one value per entity and view, see
 * view-value.ts), recorded in the store. Layout 1 had one Redis hash field per feature.
 */
export const ONLINE_LAYOUT = '2';

/** What `checkLayout` found: the current layout, or what else the store holds. */
export type OnlineLayoutCheck = { current: true } | { current: false; found: string };

/** One feature row as the materializer hands it to the online store. */
export interface OnlineRow {
  project: string;
  /** The entity key, already encoded (as on the feature topic's message key). */
  entityKey: string;
  /** The view's name; must not contain `:` (the stores' keys use it as a separator). */
  view: string;
  version: RowVersion;
  /**
   * Every feature of the view, in the domain representation; null means absent. A feature missing
   * from a winning row is gone afterwards (the winner replaces the whole view, so a dropped column
   * never lingers). Names must not contain `,` or `|` (the stored names are joined by `,`, and `|` marks
   * a delete) and must not be `__v`.
   */
  features: Record<string, FeatureValue>;
  /**
   * The row deletes the entity's values of the view (change data capture): if it wins, the view reads
   * as absent for the entity (null, served NOT_FOUND), and its version stays, so that an older row
   * cannot bring the values back while a newer one can. `features` must then be empty.
   */
  deleted?: boolean;
  /**
   * The store may forget this row this long after its event timestamp; absent or 0 keeps it forever.
   * This is retention, not serving: serving still judges freshness with the view's TTL, so callers that
   * want stale values to show as OUTSIDE_MAX_AGE rather than NOT_FOUND pass more than the view's TTL.
   */
  ttlSeconds?: number;
}

/** The next offset to consume from one topic partition. */
export interface TopicPartitionOffset {
  topic: string;
  partition: number;
  nextOffset: number;
}

/** Offsets stored together with a batch's rows, so a consumer resumes exactly where its writes stopped. */
export interface OnlineCheckpoint {
  consumer: string;
  /**
   * Merged into the consumer's stored offsets: partitions not named here keep their stored offset.
   * Forward only: an offset lower than (or equal to) the stored one is ignored, so that a partition's
   * previous owner finishing a batch after a rebalance (a zombie) cannot move it back. To start a
   * partition over, delete its offsets (deleteCheckpoint).
   */
  offsets: TopicPartitionOffset[];
}

export interface OnlineWriteBatch {
  rows: readonly OnlineRow[];
  checkpoint?: OnlineCheckpoint;
}

export interface OnlineReadRequest {
  entityKey: string;
  views: readonly string[];
  /**
   * The features wanted of each view (`features[j]` of `views[j]`). When given, each value's
   * `features` has exactly these names, null where the winning row has none, and a store reads
   * no other field. Absent: every feature of the winning row. Callers that repeat one selection
   * (serving) pass the same arrays every time, so a store can prepare the read once per selection.
   */
  features?: ReadonlyArray<readonly string[]>;
}

/** A read that names the features it wants of each view. */
export type SelectedReadRequest = OnlineReadRequest & { features: ReadonlyArray<readonly string[]> };

/**
 * The latest row of one view with the wanted features still in their stored text form (see
 * encodeStoredValue: '' is null, and a feature the row lacks), left where they are in the stored
 * value's bytes: the text of `features[j][k]` is the UTF-8 of `bytes` from `spans[at + 2k]` to
 * `spans[at + 2k + 1]` (an empty range is ''). Spans of the values of one read may share an array.
 * `storedText` makes the string of one; serving copies the bytes into its answer without one.
 */
export interface StoredViewValue {
  version: RowVersion;
  bytes: Buffer;
  spans: Int32Array;
  at: number;
}

/** The latest row of one view for one entity. */
export interface OnlineViewValue {
  version: RowVersion;
  features: Record<string, FeatureValue>;
}

/**
 * The latest value per (project, entity key, view), by last-write-wins on `compareRowVersions`.
 *
 * Contract (checked by `onlineStoreContract` for every adapter):
 * - A row is applied only if it is greater than the stored version of its (project, entityKey, view);
 *   a row that loses, or ties (the same row again), changes nothing. Rows of one batch apply in order.
 *   A deleted row that wins makes the view read as null for the entity, and keeps its version.
 * - A batch is atomic with its checkpoint: after a crash, either both rows and offsets are stored or
 *   neither (Redis: see the adapter for the cluster caveat). An invalid batch stores nothing.
 * - A checkpoint offset never moves backwards through writeBatch; only deleteCheckpoint resets it.
 * - `read` answers a whole request in one round trip to the store.
 */
export interface OnlineStore {
  /** Applies the rows and the checkpoint; returns how many rows won (each judged at its turn in the batch). */
  writeBatch(batch: OnlineWriteBatch): Promise<number>;
  /** The offsets stored by `writeBatch` for this consumer, ordered by topic then partition; [] if none. */
  readCheckpoint(consumer: string): Promise<TopicPartitionOffset[]>;
  /**
   * Forgets this consumer's stored offsets of these topics, or all of them when `topics` is absent:
   * the one way to move a checkpoint back (a rebuild from offset 0, a topic no longer consumed).
   */
  deleteCheckpoint(consumer: string, topics?: readonly string[]): Promise<void>;
  /** `result[i][j]` is the value of `requests[i].views[j]` for `requests[i].entityKey`, or null if absent. */
  read(project: string, requests: readonly OnlineReadRequest[]): Promise<Array<Array<OnlineViewValue | null>>>;
  /**
   * `read` without decoding the values, for callers that write them out as text anyway (serving's
   * JSON: most stored forms are already their JSON). Same round trip and rules as `read`.
   */
  readStored(project: string, requests: readonly SelectedReadRequest[]): Promise<Array<Array<StoredViewValue | null>>>;
  /**
   * Whether the store is in ONLINE_LAYOUT. An empty store is marked with it and is current. A store
   * that holds data without the mark (written by an older featurelog) is not: reads and writes fail
   * with ONLINE_STORE_REBUILDING (retriable) until `rebuildLayout` — the materializer's, which then
   * consumes the log again from its start.
   */
  checkLayout(): Promise<OnlineLayoutCheck>;
  /** Removes everything the store holds (rows and checkpoints of every project) and marks ONLINE_LAYOUT. */
  rebuildLayout(): Promise<void>;
  /** Forgets every entity's value of one view (after the view is deleted); returns how many were removed. */
  deleteView(project: string, view: string): Promise<number>;
  /** Resolves when the store answers; rejects with ONLINE_STORE_UNAVAILABLE otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
