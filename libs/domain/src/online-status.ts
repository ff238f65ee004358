/**
 * Feast's field statuses. `onlineStatus` judges an entity's row of a view; a served feature of a row
 * that is PRESENT but whose own value is null is `NULL_VALUE` (Feast's order: NOT_FOUND, then
 * OUTSIDE_MAX_AGE, then NULL_VALUE, then PRESENT).
 */
export type OnlineStatus = 'PRESENT' | 'NULL_VALUE' | 'OUTSIDE_MAX_AGE' | 'NOT_FOUND';

/**
 * The status served with an online value, for a view with TTL `ttlSeconds`, at `nowMicros`:
 * - `NOT_FOUND` when the online store holds no row for the entity (`latest` null or undefined);
 * - `PRESENT` when `ttlSeconds` is 0 (values never expire) or `eventTimestamp >= nowMicros - ttlSeconds * 1e6`
 *   (the bound is inclusive, as in the point-in-time window; a row from the future is PRESENT);
 * - `OUTSIDE_MAX_AGE` otherwise: the value is still returned, flagged as older than the TTL.
 */
export function onlineStatus(
  latest: { eventTimestamp: number } | null | undefined,
  ttlSeconds: number,
  nowMicros: number,
): Exclude<OnlineStatus, 'NULL_VALUE'> {
  if (latest === null || latest === undefined) return 'NOT_FOUND';
  if (ttlSeconds === 0) return 'PRESENT';
  return latest.eventTimestamp >= nowMicros - ttlSeconds * 1_000_000 ? 'PRESENT' : 'OUTSIDE_MAX_AGE';
}
