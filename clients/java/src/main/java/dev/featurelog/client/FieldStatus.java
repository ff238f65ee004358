package dev.featurelog.client;

/**
 * Feast's field statuses as featurelog's serving app sends them (libs/domain online-status.ts), first
 * match wins: NOT_FOUND, then OUTSIDE_MAX_AGE, then NULL_VALUE, then PRESENT.
 */
public enum FieldStatus {
  /** The row is within its view's TTL (or the view never expires) and this value is set. */
  PRESENT,
  /** The row is within its TTL but this feature's value is null. */
  NULL_VALUE,
  /** The row is older than the view's TTL; its value is still served. */
  OUTSIDE_MAX_AGE,
  /** The online store has no row for the entity in the view; the value is null. */
  NOT_FOUND
}
