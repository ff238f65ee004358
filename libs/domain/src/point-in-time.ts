import { FeaturelogError } from './errors';
import { compareRowVersions, type LogPosition } from './row-version';

/** A feature row as the point-in-time rule sees it. */
export interface PitCandidate<V = unknown> {
  /** Encoded entity key (encodeEntityKey), so equal keys are equal strings. */
  entityKey: string;
  eventTimestamp: number;
  createdTimestamp: number | null;
  /** Where a change-data-capture row's change sits in its source database's log (RowVersion.sourcePosition). */
  sourcePosition?: string;
  position: LogPosition;
  /** When the log appended the row (micros); needed only with `asServed`. */
  appendTime?: number;
  values: V;
}

/** An entity row to enrich: its encoded key and its timestamp (micros). */
export interface PitEntityRow {
  entityKey: string;
  timestamp: number;
}

export interface PointInTimeOptions {
  /** The view's TTL; 0 means no lower bound. */
  ttlSeconds: number;
  /** Only rows already known at t: appended to the log, and created, at or before t. */
  asServed?: boolean;
}

/**
 * The point-in-time rule, by brute force: the one oracle every point-in-time test checks against (the
 * columnar join of libs/pit, exports, the quickstart demo, the pit bench).
 * For an entity row with key k and timestamp t, the candidates are the rows with
 * - entityKey = k,
 * - eventTimestamp <= t,
 * - eventTimestamp >= t - ttlSeconds * 1e6 when ttlSeconds > 0 (both bounds inclusive),
 * - with `asServed`, additionally appendTime <= t and (createdTimestamp null or createdTimestamp <= t).
 * The winner is the greatest (eventTimestamp, createdTimestamp, sourcePosition, log position) by compareRowVersions;
 * null when there is no candidate (the entity row is kept, with null features). A delete is a candidate
 * like any row (its values saying so); when it is the winner, the features are null as if there were none.
 */
export function pointInTimeLookup<V>(
  rows: readonly PitCandidate<V>[],
  entity: PitEntityRow,
  { ttlSeconds, asServed = false }: PointInTimeOptions,
): PitCandidate<V> | null {
  const lower = ttlSeconds > 0 ? entity.timestamp - ttlSeconds * 1_000_000 : Number.NEGATIVE_INFINITY;
  let winner: PitCandidate<V> | null = null;
  for (const row of rows) {
    if (row.entityKey !== entity.entityKey) continue;
    if (row.eventTimestamp > entity.timestamp || row.eventTimestamp < lower) continue;
    if (asServed) {
      if (row.appendTime === undefined) {
        throw new FeaturelogError(
          'APPEND_TIME_MISSING',
          `as-served lookup needs the append time of row at ${positionText(row)}`,
        );
      }
      if (row.appendTime > entity.timestamp) continue;
      if (row.createdTimestamp !== null && row.createdTimestamp > entity.timestamp) continue;
    }
    if (winner === null || compareRowVersions(row, winner) > 0) winner = row;
  }
  return winner;
}

/** pointInTimeLookup for every entity row, in the same order (duplicates kept). */
export function pointInTimeJoinReference<V>(
  rows: readonly PitCandidate<V>[],
  entities: readonly PitEntityRow[],
  options: PointInTimeOptions,
): Array<PitCandidate<V> | null> {
  return entities.map((entity) => pointInTimeLookup(rows, entity, options));
}

function positionText(row: PitCandidate<unknown>): string {
  return `partition ${row.position.partition} offset ${row.position.offset}`;
}
