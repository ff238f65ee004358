/**
 * Epoch microseconds (UTC) of a timestamp written as text, or undefined when the text is not one of the
 * accepted forms or names a date or time that does not exist. The one parser of timestamp text: entity
 * files, CSV and JSON feature rows, source topics' string timestamp fields, CLI options and REST queries.
 *
 * Accepted, after trimming white space:
 * - `YYYY-MM-DD` (midnight);
 * - `YYYY-MM-DDThh:mm`, `YYYY-MM-DDThh:mm:ss`, `YYYY-MM-DDThh:mm:ss.f` with 1 to 9 fraction digits
 *   after `.` or `,`; a space may stand for the `T`;
 * - each optionally followed (white space allowed before it) by a zone: `Z`, `z`, `UTC`, `±hh`,
 *   `±hhmm` or `±hh:mm`.
 *
 * A timestamp without a zone (naive) is UTC, never the machine's local time. Fractions keep 6 digits
 * (microseconds); further digits are dropped, so nanoseconds round towards the past, as the
 * point-in-time rule needs (a row never sees a value from its future). Refused: days a month does not
 * have (2025-02-30), hours past 23 (24:00), minutes or seconds past 59, zones past 23:59, years before
 * 0100 (Date.UTC would read them as 19xx), one-digit months or days, and any other text.
 */
export function parseTimestampText(text: string): number | undefined {
  const match = TIMESTAMP.exec(text.trim());
  if (match === null) return undefined;
  const [, y, mo, d, h = '0', mi = '0', s = '0', fraction = '', zone] = match;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  const dayMillis = Date.UTC(year, month - 1, day);
  const check = new Date(dayMillis);
  // Date.UTC rolls 2024-02-30 over into March and years 0-99 into 19xx; such text is refused instead.
  if (check.getUTCFullYear() !== year || check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day)
    return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetMinutes = 0;
  if (zone !== undefined && /^[+-]/.test(zone)) {
    const digits = zone.slice(1).replace(':', '');
    const zoneHours = Number(digits.slice(0, 2));
    const zoneMinutes = digits.length > 2 ? Number(digits.slice(2)) : 0;
    if (zoneHours > 23 || zoneMinutes > 59) return undefined;
    offsetMinutes = (zone.startsWith('-') ? -1 : 1) * (zoneHours * 60 + zoneMinutes);
  }
  const seconds = dayMillis / 1000 + hour * 3600 + minute * 60 + second - offsetMinutes * 60;
  const micros = fraction === '' ? 0 : Number(fraction.padEnd(6, '0').slice(0, 6));
  return seconds * 1_000_000 + micros;
}

const TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*(Z|z|UTC|[+-]\d{2}(?::?\d{2})?)?$/;
