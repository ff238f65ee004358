import { FeaturelogError, type FeatureValue } from '@featurelog/domain';
import { MinHeap } from './min-heap';

/**
 * An entity key in columnar form: a number when the pass's only join key is an integer, else the
 * sortable string of the caller (same order as the history's). Missing keys never reach the join.
 */
export type ColumnKey = number | string;

/**
 * A run of history rows of one view, as columns, in history order: (key, event timestamp, created
 * timestamp with null lowest, partition, offset). A source is a stream of such chunks that together are
 * sorted (one Parquet segment's row groups, one sorted slice of the log tail).
 */
export interface HistoryColumns {
  length: number;
  keys: ArrayLike<ColumnKey>;
  eventTimestamps: ArrayLike<number>;
  /** Null created timestamps are -Infinity (they rank lowest). */
  createdTimestamps: ArrayLike<number>;
  partitions: ArrayLike<number>;
  offsets: ArrayLike<number>;
  /** Needed only as served: when the log appended the row (epoch µs); null when not read. */
  appendedAt: ArrayLike<number> | null;
  /** One column per feature of the {@link ViewWinners} it is joined into, in that order. */
  features: ArrayLike<unknown>[];
  /** Turns a stored feature value into the domain's (e.g. bigint → number); null: stored as the domain's. */
  featureValue: ((feature: number, value: unknown) => FeatureValue) | null;
}

/** The entity rows of a pass: keys, times, and the row numbers in (key, timestamp) order. */
export interface EntityColumns {
  /** Null (or NaN): a join key is missing; such rows are left out of `order`. */
  keys: ArrayLike<ColumnKey | null>;
  timestamps: ArrayLike<number>;
  /** Row numbers whose key is present, sorted by (key, timestamp); rows left out match nothing. */
  order: ArrayLike<number>;
}

/** What a {@link ViewWinners} holds, as plain data another thread can take (typed arrays transfer). */
export interface ViewWinnersData {
  size: number;
  features: readonly string[];
  ttlSeconds: number;
  /** Per feature: held as a number (with a presence flag) rather than as any value. */
  numeric: readonly boolean[];
  eventTimestamps: Float64Array;
  createdTimestamps: Float64Array;
  offsets: Float64Array;
  partitions: Float64Array;
  numbers: (Float64Array | null)[];
  present: (Uint8Array | null)[];
  values: (FeatureValue[] | null)[];
}

/**
 * The running winner of one view for every entity row of a frame: its row version and its feature
 * values (numeric features in typed arrays, so a million winners are not a million boxed numbers).
 * Filled by {@link joinHistorySource} once per source, or combined from other threads' with
 * {@link ViewWinners.merge}; read with {@link ViewWinners.valueAt}.
 */
export class ViewWinners {
  readonly data: ViewWinnersData;
  private readonly ttlMicros: number;

  constructor(size: number, features: readonly string[], ttlSeconds: number, numeric?: readonly boolean[]);
  constructor(data: ViewWinnersData);
  constructor(
    sizeOrData: number | ViewWinnersData,
    features: readonly string[] = [],
    ttlSeconds = 0,
    numeric: readonly boolean[] = features.map(() => false),
  ) {
    if (typeof sizeOrData !== 'number') {
      this.data = sizeOrData;
    } else {
      const size = sizeOrData;
      this.data = {
        size,
        features,
        ttlSeconds,
        numeric,
        eventTimestamps: new Float64Array(size).fill(Number.NaN),
        createdTimestamps: new Float64Array(size),
        offsets: new Float64Array(size),
        partitions: new Float64Array(size),
        numbers: numeric.map((number) => (number ? new Float64Array(size) : null)),
        present: numeric.map((number) => (number ? new Uint8Array(size) : null)),
        values: numeric.map((number) => (number ? null : new Array<FeatureValue>(size).fill(null))),
      };
    }
    this.ttlMicros = this.data.ttlSeconds * 1_000_000;
  }

  get features(): readonly string[] {
    return this.data.features;
  }

  /** The typed arrays of {@link data}, to transfer it to another thread without copying. */
  transferables(): ArrayBuffer[] {
    const { eventTimestamps, createdTimestamps, offsets, partitions, numbers, present } = this.data;
    return [eventTimestamps, createdTimestamps, offsets, partitions, ...numbers, ...present]
      .filter((array) => array !== null)
      .map((array) => array.buffer as ArrayBuffer);
  }

  /**
   * The feature at row `i`, whose point in time is `t`: the winner's value, or null without a winner or
   * when the winner is older than t - TTL (then every candidate is, as the winner has the latest event).
   */
  valueAt(feature: number, i: number, t: number): FeatureValue {
    const event = this.data.eventTimestamps[i]!;
    if (Number.isNaN(event) || (this.ttlMicros > 0 && event < t - this.ttlMicros)) return null;
    const numbers = this.data.numbers[feature];
    if (numbers) return this.data.present[feature]![i] === 1 ? numbers[i]! : null;
    return this.data.values[feature]![i]!;
  }

  /** Offers row `j` of `chunk` as a candidate for entity row `i`; it wins when its version is greater. */
  offer(i: number, chunk: HistoryColumns, j: number): void {
    const data = this.data;
    const event = chunk.eventTimestamps[j]!;
    const best = data.eventTimestamps[i]!;
    if (!Number.isNaN(best)) {
      if (event < best) return;
      if (event === best) {
        const created = chunk.createdTimestamps[j]!;
        const bestCreated = data.createdTimestamps[i]!;
        if (created < bestCreated) return;
        if (created === bestCreated) {
          const offset = chunk.offsets[j]!;
          if (offset < data.offsets[i]! || (offset === data.offsets[i]! && chunk.partitions[j]! <= data.partitions[i]!)) {
            return;
          }
        }
      }
    }
    data.eventTimestamps[i] = event;
    data.createdTimestamps[i] = chunk.createdTimestamps[j]!;
    data.offsets[i] = chunk.offsets[j]!;
    data.partitions[i] = chunk.partitions[j]!;
    const convert = chunk.featureValue;
    for (let f = 0; f < data.numeric.length; f++) {
      const raw = chunk.features[f]![j];
      const value = convert === null ? ((raw ?? null) as FeatureValue) : convert(f, raw);
      const numbers = data.numbers[f];
      if (numbers) {
        if (value === null) data.present[f]![i] = 0;
        else {
          numbers[i] = value as number;
          data.present[f]![i] = 1;
        }
      } else data.values[f]![i] = value;
    }
  }

  /** Takes, row by row, the other's winner where its version is greater (the two saw different sources). */
  merge(other: ViewWinnersData): void {
    const data = this.data;
    for (let i = 0; i < data.size; i++) {
      const event = other.eventTimestamps[i]!;
      if (Number.isNaN(event)) continue;
      const best = data.eventTimestamps[i]!;
      if (!Number.isNaN(best)) {
        if (event < best) continue;
        if (event === best) {
          const created = other.createdTimestamps[i]!;
          const bestCreated = data.createdTimestamps[i]!;
          if (created < bestCreated) continue;
          if (created === bestCreated) {
            const offset = other.offsets[i]!;
            if (offset < data.offsets[i]! || (offset === data.offsets[i]! && other.partitions[i]! <= data.partitions[i]!)) {
              continue;
            }
          }
        }
      }
      data.eventTimestamps[i] = event;
      data.createdTimestamps[i] = other.createdTimestamps[i]!;
      data.offsets[i] = other.offsets[i]!;
      data.partitions[i] = other.partitions[i]!;
      for (let f = 0; f < data.numeric.length; f++) {
        const numbers = data.numbers[f];
        if (numbers) {
          numbers[i] = other.numbers[f]![i]!;
          data.present[f]![i] = other.present[f]![i]!;
        } else data.values[f]![i] = other.values[f]![i]!;
      }
    }
  }
}

/** A history row held by reference: its chunk and index. */
interface Held {
  chunk: HistoryColumns;
  index: number;
  known: number;
}

/** Whether history row a (of chunk ca) has a greater version than b (of cb): see compareRowVersions. */
function greaterVersion(ca: HistoryColumns, a: number, cb: HistoryColumns, b: number): boolean {
  const ea = ca.eventTimestamps[a]!;
  const eb = cb.eventTimestamps[b]!;
  if (ea !== eb) return ea > eb;
  const xa = ca.createdTimestamps[a]!;
  const xb = cb.createdTimestamps[b]!;
  if (xa !== xb) return xa > xb;
  const oa = ca.offsets[a]!;
  const ob = cb.offsets[b]!;
  if (oa !== ob) return oa > ob;
  return ca.partitions[a]! > cb.partitions[b]!;
}

function knownAt(chunk: HistoryColumns, j: number): number {
  const created = chunk.createdTimestamps[j]!;
  const appended = chunk.appendedAt![j]!;
  return created > appended ? created : appended;
}

export interface JoinHistorySourceOptions {
  /** Label for errors (e.g. the segment's path). */
  source: string;
  /** Exclude rows not yet known at t: appended after t, or created after t. */
  asServed?: boolean;
}

/**
 * Joins one sorted history source of a view into `winners`, point in time, for every entity row of
 * `entities`: each row is offered this source's greatest candidate (key equal, event_timestamp <= t and,
 * as served, known at t). Because the greatest of a union is the greatest of the greatest of its parts,
 * joining every source of a view in turn leaves each row the view's winner (see pointInTimeJoin for the
 * rule); the TTL bound is applied when reading ({@link ViewWinners.valueAt}). The sources need no merge:
 * each is read once, in its own order, against the entity rows in key order — one pass, two cursors, no
 * object per history row.
 */
export async function joinHistorySource(
  entities: EntityColumns,
  source: AsyncIterable<HistoryColumns> | Iterable<HistoryColumns>,
  winners: ViewWinners,
  { source: label, asServed = false }: JoinHistorySourceOptions,
): Promise<{ historyRows: number }> {
  const { keys: entityKeys, timestamps, order } = entities;
  const n = order.length;
  let p = 0;
  /** Key of the history rows read last, and this source's winner among them so far. */
  let key: ColumnKey | undefined;
  let winner: HistoryColumns | undefined;
  let winnerIndex = -1;
  let lastEvent = Number.NEGATIVE_INFINITY;
  let historyRows = 0;
  const unknown = asServed ? new MinHeap<Held>((a, b) => a.known < b.known) : undefined;

  /** Entity row i (with key k at t) takes this source's candidate, if the history's current key is k. */
  const resolve = (i: number, k: ColumnKey, t: number): void => {
    if (k !== key) return;
    if (unknown !== undefined) {
      for (let next = unknown.peek(); next !== undefined && next.known <= t; next = unknown.peek()) {
        unknown.pop();
        if (winner === undefined || greaterVersion(next.chunk, next.index, winner, winnerIndex)) {
          winner = next.chunk;
          winnerIndex = next.index;
        }
      }
    }
    if (winner !== undefined) winners.offer(i, winner, winnerIndex);
  };

  for await (const chunk of source) {
    const { keys, eventTimestamps } = chunk;
    for (let j = 0; j < chunk.length; j++) {
      const hk = keys[j]!;
      const he = eventTimestamps[j]!;
      // Entity rows before this history row: smaller key, or same key and t < event.
      while (p < n) {
        const i = order[p]!;
        const ek = entityKeys[i]!;
        const t = timestamps[i]!;
        if (ek < hk || (ek === hk && t < he)) {
          resolve(i, ek, t);
          p += 1;
        } else break;
      }
      if (hk !== key) {
        if (key !== undefined && hk < key) throw unsorted(label, key, lastEvent, hk, he);
        key = hk;
        winner = undefined;
        winnerIndex = -1;
        unknown?.clear();
      } else if (he < lastEvent) {
        throw unsorted(label, key, lastEvent, hk, he);
      }
      lastEvent = he;
      historyRows += 1;
      if (unknown !== undefined) {
        const known = knownAt(chunk, j);
        // A row known later can still win then; one already beaten by the winner never will.
        if (winner !== undefined && !greaterVersion(chunk, j, winner, winnerIndex)) continue;
        if (known > he) {
          unknown.push({ chunk, index: j, known });
          continue;
        }
      } else if (winner !== undefined && !greaterVersion(chunk, j, winner, winnerIndex)) {
        continue;
      }
      winner = chunk;
      winnerIndex = j;
    }
  }
  for (; p < n; p++) {
    const i = order[p]!;
    resolve(i, entityKeys[i]!, timestamps[i]!);
  }
  return { historyRows };
}

function unsorted(label: string, key: ColumnKey, event: number, nextKey: ColumnKey, nextEvent: number): FeaturelogError {
  return new FeaturelogError(
    'PIT_HISTORY_UNSORTED',
    `History source ${label} is not sorted: (${JSON.stringify(nextKey)}, ${nextEvent}) follows (${JSON.stringify(key)}, ${event}).`,
  );
}

/**
 * Row numbers of the rows with a key, sorted by (key, timestamp, row number) — the order
 * {@link joinHistorySource} reads entity rows in. Integer keys sort on numbers, others on their strings.
 */
export function entityOrder(keys: ArrayLike<ColumnKey | null>, timestamps: ArrayLike<number>): Uint32Array {
  // null (or NaN for numeric keys) marks a missing key.
  const has = (key: ColumnKey | null) => key !== null && key === key;
  let present = 0;
  for (let i = 0; i < keys.length; i++) if (has(keys[i]!)) present += 1;
  const order = new Uint32Array(present);
  let o = 0;
  for (let i = 0; i < keys.length; i++) if (has(keys[i]!)) order[o++] = i;
  order.sort((a, b) => {
    const ka = keys[a]!;
    const kb = keys[b]!;
    if (ka !== kb) return ka < kb ? -1 : 1;
    const ta = timestamps[a]!;
    const tb = timestamps[b]!;
    if (ta !== tb) return ta - tb;
    return a - b;
  });
  return order;
}
