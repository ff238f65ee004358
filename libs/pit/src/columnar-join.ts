import { FeaturelogError, MinHeap, type FeatureValue } from '@featurelog/domain';

/**
 * An entity key in columnar form: a number when the pass's only join key is an integer, else the
 * sortable string of the caller (same order as the history's). Missing keys never reach the join.
 */
export type ColumnKey = number | string;

/**
 * A run of history rows of one view, as columns, sorted by key then event timestamp (ties in any order).
 * A source is a stream of such chunks that together are sorted (one Parquet segment's row groups, one
 * sorted slice of the log tail).
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
  /**
   * Each row's source position (RowVersion.sourcePosition: fixed-width digits, null for none), which
   * ranks between the created timestamp and the log position; absent or null when no row has one.
   */
  sourcePositions?: ArrayLike<string | null> | null;
  /** One column per feature of the {@link ViewWinners} it is joined into, in that order. */
  features: ArrayLike<unknown>[];
  /** Turns a stored feature value into the domain's (e.g. bigint → number); null: stored as the domain's. */
  featureValue: ((feature: number, value: unknown) => FeatureValue) | null;
}

/**
 * The entity rows of a pass in (key, timestamp) order, rows without a key left out: position p holds
 * the p-th row in that order. Winners are kept by position; {@link EntityOrder} maps back to rows.
 */
export interface EntityColumns {
  keys: ArrayLike<ColumnKey>;
  timestamps: ArrayLike<number>;
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
  /** Each winner's source position (null: none); absent until a winner has one. */
  sourcePositions?: (string | null)[];
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
   * The feature at position `i` (-1: a row without a key), whose point in time is `t`: the winner's value,
   * or null without a winner or when the winner is older than t - TTL (then every candidate is, as the
   * winner has the latest event).
   */
  valueAt(feature: number, i: number, t: number): FeatureValue {
    if (i < 0) return null;
    const event = this.data.eventTimestamps[i]!;
    if (Number.isNaN(event) || (this.ttlMicros > 0 && event < t - this.ttlMicros)) return null;
    const numbers = this.data.numbers[feature];
    if (numbers) return this.data.present[feature]![i] === 1 ? numbers[i]! : null;
    return this.data.values[feature]![i]!;
  }

  /**
   * {@link valueAt} for rows start..end-1 of a frame, gathered into `out` (from index 0): row r is at
   * position `positions[r]` and time `times[r]`.
   */
  gather(
    feature: number,
    positions: ArrayLike<number>,
    times: ArrayLike<number>,
    start: number,
    end: number,
    out: FeatureValue[],
  ): void {
    const { eventTimestamps } = this.data;
    const ttl = this.ttlMicros;
    const numbers = this.data.numbers[feature];
    const present = this.data.present[feature];
    const values = this.data.values[feature];
    for (let r = start; r < end; r++) {
      const i = positions[r]!;
      let value: FeatureValue = null;
      if (i >= 0) {
        const event = eventTimestamps[i]!;
        if (!Number.isNaN(event) && !(ttl > 0 && event < times[r]! - ttl)) {
          value = numbers ? (present![i] === 1 ? numbers[i]! : null) : values![i]!;
        }
      }
      out[r - start] = value;
    }
  }

  /**
   * Like {@link gather}, as a typed column for a numeric feature ({ numbers, present }) or values.
   */
  gatherColumn(
    feature: number,
    positions: ArrayLike<number>,
    times: ArrayLike<number>,
    start: number,
    end: number,
  ): { numbers: Float64Array; present: Uint8Array } | { values: FeatureValue[] } {
    const numbers = this.data.numbers[feature];
    if (!numbers) {
      const values = new Array<FeatureValue>(end - start);
      this.gather(feature, positions, times, start, end, values);
      return { values };
    }
    const { eventTimestamps } = this.data;
    const ttl = this.ttlMicros;
    const present = this.data.present[feature]!;
    const out = new Float64Array(end - start);
    const has = new Uint8Array(end - start);
    for (let r = start; r < end; r++) {
      const i = positions[r]!;
      if (i < 0 || present[i] !== 1) continue;
      const event = eventTimestamps[i]!;
      if (Number.isNaN(event) || (ttl > 0 && event < times[r]! - ttl)) continue;
      out[r - start] = numbers[i]!;
      has[r - start] = 1;
    }
    return { numbers: out, present: has };
  }

  /**
   * Like {@link gatherColumn} for a whole frame at once: every feature's value for every row, in row order.
   * Walks the winners in their own (position) order and scatters to rows — sequential reads and
   * independent writes, several times faster than gathering a million rows' winners at random. `order`
   * is the pass's {@link sortEntities} result (its `timestamps` are the rows' times in position order);
   * rows without a key, without a winner or past the TTL are null.
   */
  columnsInRowOrder(
    order: Pick<EntityOrder, 'rows' | 'timestamps'>,
    length: number,
  ): ({ numbers: Float64Array; present: Uint8Array } | { values: FeatureValue[] })[] {
    const { eventTimestamps, numbers, present, values } = this.data;
    const { rows, timestamps } = order;
    const ttl = this.ttlMicros;
    const live = new Uint8Array(rows.length);
    for (let p = 0; p < rows.length; p++) {
      const event = eventTimestamps[p]!;
      live[p] = Number.isNaN(event) || (ttl > 0 && event < timestamps[p]! - ttl) ? 0 : 1;
    }
    return this.data.features.map((_, feature) => {
      const featureNumbers = numbers[feature];
      if (featureNumbers) {
        const featurePresent = present[feature]!;
        const out = new Float64Array(length);
        const has = new Uint8Array(length);
        for (let p = 0; p < rows.length; p++) {
          if ((live[p]! & featurePresent[p]!) === 0) continue;
          const row = rows[p]!;
          out[row] = featureNumbers[p]!;
          has[row] = 1;
        }
        return { numbers: out, present: has };
      }
      const featureValues = values[feature]!;
      const out = new Array<FeatureValue>(length).fill(null);
      for (let p = 0; p < rows.length; p++) if (live[p] === 1) out[rows[p]!] = featureValues[p]!;
      return { values: out };
    });
  }

  private setSourcePosition(i: number, sourcePosition: string | null): void {
    const data = this.data;
    if (data.sourcePositions === undefined) {
      if (sourcePosition === null) return;
      data.sourcePositions = new Array<string | null>(data.size).fill(null);
    }
    data.sourcePositions[i] = sourcePosition;
  }

  /** Offers row `j` of `chunk` as a candidate for entity row `i`; it wins when its version is greater. */
  offer(i: number, chunk: HistoryColumns, j: number): void {
    const data = this.data;
    const event = chunk.eventTimestamps[j]!;
    const best = data.eventTimestamps[i]!;
    const sourcePosition = chunk.sourcePositions?.[j] ?? null;
    if (!Number.isNaN(best)) {
      if (event < best) return;
      if (event === best) {
        const created = chunk.createdTimestamps[j]!;
        const bestCreated = data.createdTimestamps[i]!;
        if (created < bestCreated) return;
        const sourceOrder =
          created === bestCreated ? compareSourcePositions(sourcePosition, data.sourcePositions?.[i] ?? null) : 1;
        if (sourceOrder < 0) return;
        if (sourceOrder === 0) {
          const offset = chunk.offsets[j]!;
          if (
            offset < data.offsets[i]! ||
            (offset === data.offsets[i]! && chunk.partitions[j]! <= data.partitions[i]!)
          ) {
            return;
          }
        }
      }
    }
    data.eventTimestamps[i] = event;
    data.createdTimestamps[i] = chunk.createdTimestamps[j]!;
    data.offsets[i] = chunk.offsets[j]!;
    data.partitions[i] = chunk.partitions[j]!;
    this.setSourcePosition(i, sourcePosition);
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
      const sourcePosition = other.sourcePositions?.[i] ?? null;
      if (!Number.isNaN(best)) {
        if (event < best) continue;
        if (event === best) {
          const created = other.createdTimestamps[i]!;
          const bestCreated = data.createdTimestamps[i]!;
          if (created < bestCreated) continue;
          const sourceOrder =
            created === bestCreated ? compareSourcePositions(sourcePosition, data.sourcePositions?.[i] ?? null) : 1;
          if (sourceOrder < 0) continue;
          if (sourceOrder === 0) {
            const offset = other.offsets[i]!;
            if (
              offset < data.offsets[i]! ||
              (offset === data.offsets[i]! && other.partitions[i]! <= data.partitions[i]!)
            ) {
              continue;
            }
          }
        }
      }
      data.eventTimestamps[i] = event;
      data.createdTimestamps[i] = other.createdTimestamps[i]!;
      data.offsets[i] = other.offsets[i]!;
      data.partitions[i] = other.partitions[i]!;
      this.setSourcePosition(i, sourcePosition);
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

/** Source positions in the order of RowVersion.sourcePosition: absent (null) lowest, then as text (fixed-width digits). */
function compareSourcePositions(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  return a < b ? -1 : 1;
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
  const sourceOrder = compareSourcePositions(ca.sourcePositions?.[a] ?? null, cb.sourcePositions?.[b] ?? null);
  if (sourceOrder !== 0) return sourceOrder > 0;
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
 * joining every source of a view in turn leaves each row the view's winner; the TTL bound is applied when
 * reading ({@link ViewWinners.valueAt}). The sources need no merge: each is read once, in its own order,
 * against the entity rows in key order — one pass, two cursors, no object per history row.
 *
 * The rule (the domain's pointInTimeLookup is its oracle), for an entity row with key k and timestamp t
 * and a view with TTL s: candidates are the view's rows with key k, `event_timestamp <= t` and, when
 * s > 0, `event_timestamp >= t - s` (both bounds inclusive, s in seconds, timestamps in microseconds). The
 * winner is the greatest (event timestamp, created timestamp with null lowest, source position with none
 * lowest, log position). No candidate: every feature is null. As served, a row is a candidate only once
 * known at t: appended at or before t, and created (when stated) at or before t.
 *
 * Why one pass suffices: within one key, t only grows, so the set of rows with event_timestamp <= t (and,
 * as served, known at t) only grows, and so does its greatest element. The TTL needs no buffer: if the
 * greatest is older than t - s, so is every candidate. As served, rows read but not yet known wait in a
 * heap ordered by when they become known (those already beaten by the winner are dropped at once): a
 * source holds at most one key's not-yet-known rows.
 */
export async function joinHistorySource(
  entities: EntityColumns,
  source: AsyncIterable<HistoryColumns> | Iterable<HistoryColumns>,
  winners: ViewWinners,
  { source: label, asServed = false }: JoinHistorySourceOptions,
): Promise<{ historyRows: number }> {
  const { keys: entityKeys, timestamps } = entities;
  const bestEvents = winners.data.eventTimestamps;
  const n = entityKeys.length;
  let p = 0;
  /** Key of the history rows read last, and this source's winner among them so far. */
  let key: ColumnKey | undefined;
  let winner: HistoryColumns | undefined;
  let winnerIndex = -1;
  let winnerEvent = Number.NaN;
  let lastEvent = Number.NEGATIVE_INFINITY;
  let historyRows = 0;
  const unknown = asServed ? new MinHeap<Held>((a, b) => a.known < b.known) : undefined;

  /** Entity position i (key k, time t) takes this source's candidate, if the history's current key is k. */
  const resolve = (i: number, k: ColumnKey, t: number): void => {
    if (k !== key) return;
    if (unknown !== undefined) {
      for (let next = unknown.peek(); next !== undefined && next.known <= t; next = unknown.peek()) {
        unknown.pop();
        if (winner === undefined || greaterVersion(next.chunk, next.index, winner, winnerIndex)) {
          winner = next.chunk;
          winnerIndex = next.index;
          winnerEvent = winner.eventTimestamps[winnerIndex]!;
        }
      }
    }
    // An older event can never win (NaN, no winner yet, compares false): skip the call.
    if (winner !== undefined && !(winnerEvent < bestEvents[i]!)) winners.offer(i, winner, winnerIndex);
  };

  for await (const chunk of source) {
    const { keys, eventTimestamps } = chunk;
    for (let j = 0; j < chunk.length; j++) {
      const hk = keys[j]!;
      const he = eventTimestamps[j]!;
      // Entity rows before this history row: smaller key, or same key and t < event.
      while (p < n) {
        const ek = entityKeys[p]!;
        const t = timestamps[p]!;
        if (ek < hk || (ek === hk && t < he)) {
          if (ek === key) resolve(p, ek, t);
          p += 1;
        } else break;
      }
      if (hk !== key) {
        if (key !== undefined && hk < key) throw unsorted(label, key, lastEvent, hk, he);
        key = hk;
        winner = undefined;
        winnerIndex = -1;
        winnerEvent = Number.NaN;
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
      winnerEvent = he;
    }
  }
  for (; p < n; p++) resolve(p, entityKeys[p]!, timestamps[p]!);
  return { historyRows };
}

function unsorted(
  label: string,
  key: ColumnKey,
  event: number,
  nextKey: ColumnKey,
  nextEvent: number,
): FeaturelogError {
  return new FeaturelogError(
    'PIT_HISTORY_UNSORTED',
    `History source ${label} is not sorted: (${JSON.stringify(nextKey)}, ${nextEvent}) follows (${JSON.stringify(key)}, ${event}).`,
  );
}

/** The entity rows of a pass in (key, timestamp) order, and the way back to file order. */
export interface EntityOrder extends EntityColumns {
  /** Row number at each position. */
  rows: Uint32Array;
  /** Position of each row; -1 for a row without a key (it matches nothing). */
  positions: Int32Array;
}

/**
 * Puts the rows with a key in (key, timestamp, row number) order — the order {@link joinHistorySource}
 * reads entity rows in. Null (or NaN) marks a missing key. `shared` allocates the results in shared
 * memory, so worker threads can read them in place. Numeric (integer) keys sort without a comparator over
 * the whole frame: keys are ranked (see sortNumericKeys), rows are counted into key groups (stable, so by
 * row number), and each group, a few rows, is sorted by time.
 */
export function sortEntities(
  keys: ArrayLike<ColumnKey | null>,
  timestamps: ArrayLike<number>,
  { shared = false }: { shared?: boolean } = {},
): EntityOrder {
  const has = (key: ColumnKey | null) => key !== null && key === key;
  const size = keys.length;
  const positions = new Int32Array(allocate(size * 4, shared)).fill(-1);
  let present = 0;
  let numeric = true;
  for (let i = 0; i < size; i++) {
    const key = keys[i]!;
    if (!has(key)) continue;
    present += 1;
    if (typeof key !== 'number') numeric = false;
  }
  const rows = new Uint32Array(allocate(present * 4, shared));
  if (numeric) sortNumericKeys(keys as ArrayLike<number | null>, timestamps, rows);
  else {
    let o = 0;
    for (let i = 0; i < size; i++) if (has(keys[i]!)) rows[o++] = i;
    rows.sort((a, b) => {
      const ka = keys[a]!;
      const kb = keys[b]!;
      if (ka !== kb) return ka < kb ? -1 : 1;
      const ta = timestamps[a]!;
      const tb = timestamps[b]!;
      if (ta !== tb) return ta - tb;
      return a - b;
    });
  }
  const sortedTimes = new Float64Array(allocate(present * 8, shared));
  const sortedKeys: ColumnKey[] | Float64Array = numeric
    ? new Float64Array(allocate(present * 8, shared))
    : new Array<ColumnKey>(present);
  for (let p = 0; p < present; p++) {
    const i = rows[p]!;
    sortedKeys[p] = keys[i] as never;
    sortedTimes[p] = timestamps[i]!;
    positions[i] = p;
  }
  return { keys: sortedKeys, timestamps: sortedTimes, rows, positions };
}

function allocate(bytes: number, shared: boolean): ArrayBuffer | SharedArrayBuffer {
  return shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
}

/** Counting sort of row numbers by key rank, then each key's rows by (time, row number). */
function sortNumericKeys(keys: ArrayLike<number | null>, timestamps: ArrayLike<number>, rows: Uint32Array): void {
  // No row with a key (an empty frame, or a frame of rows that all lack it): nothing to order, no key range.
  if (rows.length === 0) return;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    if (key === null || key !== key) continue;
    if (key < min) min = key;
    if (key > max) max = key;
  }
  // Integer keys within a few times the row count of each other (ids usually are) rank as key - min,
  // with no sort; others by a native sort of the distinct values and a binary search.
  let distinct: number;
  let rank: (key: number) => number;
  if (max - min <= 4 * rows.length + 1024) {
    distinct = max - min + 1;
    rank = (key) => key - min;
  } else {
    const values = new Float64Array(rows.length);
    let o = 0;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      if (key !== null && key === key) values[o++] = key;
    }
    values.sort();
    distinct = 0;
    for (let v = 0; v < values.length; v++) if (v === 0 || values[v] !== values[v - 1]) values[distinct++] = values[v]!;
    const unique = values.subarray(0, distinct);
    rank = (key) => {
      let low = 0;
      let high = distinct - 1;
      while (low < high) {
        const middle = (low + high) >> 1;
        if (unique[middle]! < key) low = middle + 1;
        else high = middle;
      }
      return low;
    };
  }
  const ranks = new Int32Array(keys.length).fill(-1);
  const starts = new Uint32Array(distinct + 1);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    if (key === null || key !== key) continue;
    const r = rank(key as number);
    ranks[i] = r;
    starts[r + 1]! += 1;
  }
  for (let r = 0; r < distinct; r++) starts[r + 1]! += starts[r]!;
  const fill = starts.slice(0, distinct);
  for (let i = 0; i < keys.length; i++) {
    const r = ranks[i]!;
    if (r >= 0) rows[fill[r]!++] = i;
  }
  for (let r = 0; r < distinct; r++) {
    const start = starts[r]!;
    const end = starts[r + 1]!;
    if (end - start < 2) continue;
    if (end - start > 64) {
      const group = rows.subarray(start, end);
      group.sort((a, b) => timestamps[a]! - timestamps[b]! || a - b);
      continue;
    }
    // Insertion sort by (time, row number); rows enter in row-number order, so only time moves them.
    for (let x = start + 1; x < end; x++) {
      const row = rows[x]!;
      const t = timestamps[row]!;
      let y = x - 1;
      while (y >= start && timestamps[rows[y]!]! > t) {
        rows[y + 1] = rows[y]!;
        y -= 1;
      }
      rows[y + 1] = row;
    }
  }
}
