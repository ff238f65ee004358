import { FeaturelogError } from '@featurelog/domain';

const UNIT_SECONDS: Record<string, number> = { w: 604_800, d: 86_400, h: 3_600, m: 60, s: 1 };

/**
 * Seconds in a TTL as written in YAML: a whole number of seconds (`7200`, `"7200"`), or units in
 * decreasing order `w d h m s` (`2h`, `90m`, `1d12h`, `0`). Throws INVALID_DURATION otherwise.
 */
export function parseDurationSeconds(value: number | string): number {
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value >= 0) return value;
    throw new FeaturelogError('INVALID_DURATION', `duration ${value} must be a whole number of seconds >= 0`);
  }
  if (/^[0-9]+$/.test(value)) return parseDurationSeconds(Number(value));
  const match = /^(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?$/.exec(value);
  if (!match || value === '') {
    throw new FeaturelogError(
      'INVALID_DURATION',
      `duration "${value}" must be seconds or like 2h, 90m, 1d12h (units w d h m s, in that order)`,
    );
  }
  const seconds = ['w', 'd', 'h', 'm', 's'].reduce(
    (sum, unit, i) => sum + Number(match[i + 1] ?? 0) * UNIT_SECONDS[unit]!,
    0,
  );
  return parseDurationSeconds(seconds);
}

/**
 * A number of seconds as a TTL is written in YAML, the inverse of parseDurationSeconds: `7200` → `2h`,
 * `5400` → `1h30m`, `0` (unbounded) → `0`. Units as large as they divide evenly, in decreasing order.
 */
export function formatDurationSeconds(seconds: number): string | number {
  if (!Number.isSafeInteger(seconds) || seconds < 0) {
    throw new FeaturelogError('INVALID_DURATION', `duration ${seconds} must be a whole number of seconds >= 0`);
  }
  if (seconds === 0) return 0;
  let rest = seconds;
  let text = '';
  for (const [unit, size] of Object.entries(UNIT_SECONDS)) {
    if (rest >= size) {
      text += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return text;
}
