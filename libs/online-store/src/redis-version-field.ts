import { FeaturelogError, type RowVersion } from '@featurelog/domain';

/**
 * The value of a view's `<view>:__v` field in a Redis entity hash:
 *
 *   `<version, 66 digits><e|p>|<feature,feature,…>`
 *
 * The version is fixed-width and ordered like compareRowVersions, so that last-write-wins inside the
 * write script is ONE string comparison of the first 66 characters (digits only, so no collation
 * can reorder them):
 *
 * | chars  | what                                                                                     |
 * |--------|------------------------------------------------------------------------------------------|
 * | 1–17   | event timestamp: `1` + 16-digit n for n >= 0, `0` + 16-digit (n + 2^53) for n < 0          |
 * | 18–34  | created timestamp the same way; null is 17 zeros, below every value                      |
 * | 35–50  | log offset, 16 digits                                                                    |
 * | 51–66  | log partition, 16 digits                                                                 |
 *
 * Every part is a safe integer (the batch validation checks it), so 16 digits hold it and
 * n + 2^53 is exact for negative n. Then `e` when the row set an expiry on the key, `p` when it made
 * the key persistent (so the script knows without asking Redis whether a later row without expiry
 * must PERSIST the key), and the winner's feature names (to read without knowing the view's schema,
 * and to drop fields of removed features).
 */
export const VERSION_DIGITS = 66;

/**
 * The feature names of a deleted row's version field: `|` is in no feature name, so no row with
 * features is ever stored with it. A view whose version field says it reads as absent.
 */
export const DELETED_NAMES = '|';

/** Whether a stored version field is a delete's (see DELETED_NAMES). */
export function isDeletedVersionField(stored: string): boolean {
  return stored.length === VERSION_DIGITS + 3 && stored.charCodeAt(VERSION_DIGITS + 2) === 0x7c; /* | */
}

const TWO_53 = 2 ** 53;
const NULL_TIMESTAMP = '0'.repeat(17);

export function encodeVersionField(version: RowVersion, expiring: boolean, names: string): string {
  return encodeVersion(version, expiring) + '|' + names;
}

/** The first 67 characters of a version field: the 66 digits and `e` or `p`. */
export function encodeVersion({ eventTimestamp, createdTimestamp, position }: RowVersion, expiring: boolean): string {
  return (
    signed(eventTimestamp) +
    (createdTimestamp === null ? NULL_TIMESTAMP : signed(createdTimestamp)) +
    digits16(position.offset) +
    digits16(position.partition) +
    (expiring ? 'e' : 'p')
  );
}

export function decodeVersionField(stored: string): { version: RowVersion; names: string[] } {
  return { version: decodeVersion(stored), names: featureNamesOf(stored) };
}

/** The version alone of a stored version field (the read path needs no feature names). */
export function decodeVersion(stored: string): RowVersion {
  if (stored.length < VERSION_DIGITS + 2 || stored.charCodeAt(VERSION_DIGITS + 1) !== 0x7c /* | */) {
    throw new FeaturelogError(
      'ONLINE_STORE_CORRUPT',
      `stored version field is not in the form <66 digits><e|p>|<names>: ${stored.slice(0, 80)}`,
    );
  }
  const created = stored.slice(17, 34);
  return {
    eventTimestamp: unsigned(stored.slice(0, 17)),
    createdTimestamp: created === NULL_TIMESTAMP ? null : unsigned(created),
    position: { partition: Number(stored.slice(50, 66)), offset: Number(stored.slice(34, 50)) },
  };
}

/** The feature names at the end of a stored version field. */
export function featureNamesOf(stored: string): string[] {
  const names = stored.slice(stored.indexOf('|') + 1);
  return names === '' ? [] : names.split(',');
}

function signed(n: number): string {
  return n >= 0 ? '1' + digits16(n) : '0' + digits16(n + TWO_53);
}

function unsigned(text: string): number {
  const magnitude = Number(text.slice(1));
  return text.charCodeAt(0) === 0x31 /* 1 */ ? magnitude : magnitude - TWO_53;
}

function digits16(n: number): string {
  const text = String(n);
  return text.length >= 16 ? text : '0000000000000000'.slice(text.length) + text;
}
