/**
 * Parses a timestamp as entity files write it, to epoch microseconds (UTC), or undefined when it is not one.
 * Accepted: `YYYY-MM-DD`, `YYYY-MM-DD[T ]hh:mm[:ss[.fraction]]` with an optional `Z` or `±hh[:]mm` zone.
 * A timestamp without a zone (naive) is UTC. Fractions keep up to 6 digits (microseconds); further
 * digits are dropped, i.e. nanoseconds round towards the past, as the point-in-time rule needs
 * (a row never sees a value from its future).
 */
export function parseTimestampText(text: string): number | undefined {
  const match = TIMESTAMP.exec(text.trim());
  if (!match) return undefined;
  const [, year, month, day, hour = '0', minute = '0', second = '0', fraction = '', zone] = match;
  const [y, mo, d, h, mi, s] = [year, month, day, hour, minute, second].map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59 || s > 59) return undefined;
  let offsetMinutes = 0;
  if (zone !== undefined && zone !== 'Z' && zone !== 'z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    const zh = Number(digits.slice(0, 2));
    const zm = Number(digits.slice(2) || '0');
    if (zh > 23 || zm > 59) return undefined;
    offsetMinutes = sign * (zh * 60 + zm);
  }
  const millis = Date.UTC(y, mo - 1, d, h, mi, s) - offsetMinutes * 60_000;
  // Date.UTC maps years 0–99 to 1900–1999; entity files never mean that, and the domain starts at 1970.
  if (!Number.isFinite(millis) || y < 100) return undefined;
  const micros = Number(fraction.slice(0, 6).padEnd(6, '0'));
  return millis * 1000 + micros;
}

const TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?)?$/;

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}
