import { BatchCursor, compareRowVersions, type FeatureValue, FeaturelogError, MinHeap } from '@featurelog/domain';
import type { EntityRow, HistoryRow, PitView } from './pit-rows';

export interface PointInTimeJoinOptions {
  /** The entity key (in {@link EntityRow.entityKeys}) that every view of this pass is keyed by. */
  keyName: string;
  views: readonly PitView[];
  /** Exclude rows not yet known at `t`: appended to the log after `t`, or created after `t`. */
  asServed?: boolean;
  /** Filled in while the join runs, for progress reporting and the memory-bound test. */
  stats?: PitJoinStats;
}

export class PitJoinStats {
  entityRows = 0;
  historyRowsRead = 0;
  /** Most history rows retained at once across all views (winners plus as-served rows waiting to become known). */
  peakHeldHistoryRows = 0;
}

const MICROS_PER_SECOND = 1_000_000;

/**
 * Streaming point-in-time join of one pass: entity rows sorted by (entity key `keyName`, timestamp,
 * row index) against views keyed by that same entity key, each view's history sorted by
 * {@link compareHistoryRows}. Emits every entity row, duplicates included, in input order, with
 * `features[view]` set for every view of the pass.
 *
 * The rule, for an entity row with key k and timestamp t and a view with TTL s: candidates are the
 * view's rows with entity key k, `event_timestamp <= t` and, when s > 0, `event_timestamp >= t - s`
 * (both bounds inclusive, s in seconds, timestamps in microseconds). The winner is the greatest under
 * {@link compareRowVersions}: (event timestamp, created timestamp with null lowest, log position).
 * No candidate: every requested feature is null. With `asServed`, a row is a candidate only once known
 * at t: `appendedAt <= t` and (`createdTimestamp` null or `<= t`).
 *
 * Why one pass streams: within one key, t only grows, so the set S(t) of rows with
 * event_timestamp <= t (and, as-served, known at t) only grows, and its greatest element only grows.
 * The TTL window never needs a buffer: if the greatest of S(t) is older than t - s, so is all of S(t).
 * As-served rows read from the history (event_timestamp <= t) but not yet known wait in a heap ordered
 * by when they become known; those already beaten by the current winner are dropped at once. So a
 * pass holds one winner per view, plus at most one key's not-yet-known rows per view.
 *
 * Views keyed by another entity need another pass over the entity rows sorted by that key; the output
 * of this pass is a valid input (see {@link pointInTimeJoinInMemory} for the whole sequence).
 */
export async function* pointInTimeJoin(
  entityRows: AsyncIterable<readonly EntityRow[]>,
  { keyName, views, asServed = false, stats = new PitJoinStats() }: PointInTimeJoinOptions,
): AsyncGenerator<EntityRow[]> {
  validateViews(views);
  const joiners = await Promise.all(
    views.map(async (view) => new ViewJoiner(view, await BatchCursor.open(view.history), asServed)),
  );
  try {
    let previous: EntityRow | undefined;
    for await (const batch of entityRows) {
      const out: EntityRow[] = new Array<EntityRow>(batch.length);
      for (let i = 0; i < batch.length; i++) {
        const row = batch[i]!;
        const key = row.entityKeys[keyName];
        if (key === undefined) {
          throw new FeaturelogError(
            'PIT_ENTITY_KEY_MISSING',
            `Entity row ${row.rowIndex} has no entity key "${keyName}", which views ${views.map((v) => v.name).join(', ')} are keyed by.`,
          );
        }
        checkEntityOrder(previous, row, keyName, key);
        previous = row;
        stats.entityRows += 1;

        const features: Record<string, Readonly<Record<string, FeatureValue>>> = { ...row.features };
        let held = 0;
        for (const joiner of joiners) {
          if (features[joiner.view.name] !== undefined) {
            throw new FeaturelogError(
              'PIT_VIEW_ALREADY_JOINED',
              `Entity row ${row.rowIndex} already has features of view "${joiner.view.name}"; a view is joined once.`,
            );
          }
          const fetching = joiner.seek(key, row.timestamp, stats);
          if (fetching) await fetching;
          features[joiner.view.name] = joiner.valuesAt(row.timestamp);
          held += joiner.held;
        }
        if (held > stats.peakHeldHistoryRows) stats.peakHeldHistoryRows = held;
        out[i] = { ...row, features };
      }
      if (out.length > 0) yield out;
    }
  } finally {
    await Promise.all(joiners.map((joiner) => joiner.cursor.close()));
  }
}

function validateViews(views: readonly PitView[]): void {
  const seen = new Set<string>();
  for (const view of views) {
    if (seen.has(view.name)) {
      throw new FeaturelogError('PIT_DUPLICATE_VIEW', `View "${view.name}" appears twice in one point-in-time join.`);
    }
    seen.add(view.name);
    if (!Number.isFinite(view.ttlSeconds) || view.ttlSeconds < 0) {
      throw new FeaturelogError(
        'PIT_INVALID_TTL',
        `View "${view.name}" has ttlSeconds ${view.ttlSeconds}; expected a finite number >= 0 (0 = no limit).`,
      );
    }
  }
}

function checkEntityOrder(previous: EntityRow | undefined, row: EntityRow, keyName: string, key: string): void {
  if (previous === undefined) return;
  const previousKey = previous.entityKeys[keyName]!;
  const inOrder =
    previousKey < key ||
    (previousKey === key &&
      (previous.timestamp < row.timestamp ||
        (previous.timestamp === row.timestamp && previous.rowIndex < row.rowIndex)));
  if (!inOrder) {
    throw new FeaturelogError(
      'PIT_ENTITY_ROWS_UNSORTED',
      `Entity row ${row.rowIndex} (${keyName}=${key}, t=${row.timestamp}) follows row ${previous.rowIndex} ` +
        `(${keyName}=${previousKey}, t=${previous.timestamp}); entity rows must be sorted by (${keyName}, timestamp, rowIndex).`,
    );
  }
}

/** When a history row becomes known to the log's readers: appended, and created (if stated). */
function knownAt(row: HistoryRow): number {
  return row.createdTimestamp !== null && row.createdTimestamp > row.appendedAt ? row.createdTimestamp : row.appendedAt;
}

/** One view's cursor and its state for the current entity key. */
class ViewJoiner {
  private key: string | undefined;
  private winner: HistoryRow | undefined;
  private winnerValues: Readonly<Record<string, FeatureValue>> | undefined;
  private readonly nullValues: Readonly<Record<string, FeatureValue>>;
  private readonly ttlMicros: number;
  /** As-served only: rows with event_timestamp <= t not yet known at t, soonest-known first. */
  private readonly unknown = new MinHeap<HistoryRow>((a, b) => knownAt(a) < knownAt(b));
  private lastRead: HistoryRow | undefined;

  constructor(
    readonly view: PitView,
    readonly cursor: BatchCursor<HistoryRow>,
    private readonly asServed: boolean,
  ) {
    this.ttlMicros = view.ttlSeconds * MICROS_PER_SECOND;
    this.nullValues = Object.freeze(Object.fromEntries(view.features.map((name) => [name, null])));
  }

  get held(): number {
    return (this.winner === undefined ? 0 : 1) + this.unknown.size;
  }

  /**
   * Reads the history up to (key, t). Synchronous while the current batch lasts; returns a promise
   * only when a batch must be fetched, so the per-row cost carries no microtask.
   */
  seek(key: string, t: number, stats: PitJoinStats): Promise<void> | undefined {
    if (key !== this.key) {
      this.key = key;
      this.winner = undefined;
      this.winnerValues = undefined;
      this.unknown.clear();
    }
    return this.read(key, t, stats);
  }

  /** Requested feature values at t, after {@link seek} to (key, t). */
  valuesAt(t: number): Readonly<Record<string, FeatureValue>> {
    if (this.asServed) this.releaseKnown(t);
    const winner = this.winner;
    if (winner === undefined || (this.ttlMicros > 0 && winner.eventTimestamp < t - this.ttlMicros)) {
      return this.nullValues;
    }
    this.winnerValues ??= Object.freeze(
      Object.fromEntries(this.view.features.map((name) => [name, winner.features[name] ?? null])),
    );
    return this.winnerValues;
  }

  private read(key: string, t: number, stats: PitJoinStats): Promise<void> | undefined {
    for (let row = this.cursor.current; row !== undefined; row = this.cursor.current) {
      if (row.entityKey > key || (row.entityKey === key && row.eventTimestamp > t)) return undefined;
      this.checkHistoryOrder(row);
      stats.historyRowsRead += 1;
      if (row.entityKey === key) this.admit(row, t);
      const fetching = this.cursor.advance();
      if (fetching) return fetching.then(() => this.read(key, t, stats));
    }
    return undefined;
  }

  /** A row of the current key with event_timestamp <= t. */
  private admit(row: HistoryRow, t: number): void {
    if (this.winner !== undefined && compareRowVersions(row, this.winner) <= 0) return;
    if (this.asServed && knownAt(row) > t) this.unknown.push(row);
    else this.crown(row);
  }

  private releaseKnown(t: number): void {
    for (let next = this.unknown.peek(); next !== undefined && knownAt(next) <= t; next = this.unknown.peek()) {
      this.unknown.pop();
      if (this.winner === undefined || compareRowVersions(next, this.winner) > 0) this.crown(next);
    }
  }

  private crown(row: HistoryRow): void {
    this.winner = row;
    this.winnerValues = undefined;
  }

  private checkHistoryOrder(row: HistoryRow): void {
    const last = this.lastRead;
    this.lastRead = row;
    if (
      last === undefined ||
      last.entityKey < row.entityKey ||
      (last.entityKey === row.entityKey && last.eventTimestamp <= row.eventTimestamp)
    ) {
      return;
    }
    throw new FeaturelogError(
      'PIT_HISTORY_UNSORTED',
      `History of view "${this.view.name}" is not sorted: (${row.entityKey}, ${row.eventTimestamp}) at ` +
        `partition ${row.position.partition} offset ${row.position.offset} follows (${last.entityKey}, ${last.eventTimestamp}).`,
    );
  }
}
