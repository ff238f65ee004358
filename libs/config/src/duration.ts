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
