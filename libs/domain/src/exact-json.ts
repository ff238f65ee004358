import { FeaturelogError } from './errors';

/**
 * JSON.parse that never rounds an integer: a literal outside the safe range (|n| > 2^53 - 1), which
 * JSON.parse would silently turn into the nearest double (9007199254740993 → 9007199254740992), is
 * returned as a bigint with its exact value instead. featurelog's int64 values are exact within the safe
 * range and refused outside it, so validation then names the value the caller sent, never a neighbour.
 * A `__proto__` key is refused (INVALID_JSON), as Fastify's own parser does, so no body reshapes a prototype
 * when it is spread or merged. Throws INVALID_JSON for malformed text.
 */
export function parseJsonExact(text: string): unknown {
  try {
    // The reviver costs a call per value and makes the parse allocate ~8 times as much: text with
    // nothing it could act on (no run of 16 digits, the shortest integer past 2^53; no `__proto__`,
    // and no \u escape that could spell one) is parsed without it, to the same value.
    if (!MAYBE_UNSAFE_INTEGER.test(text) && !text.includes('__proto__') && !text.includes('\\u')) {
      return JSON.parse(text);
    }
    return JSON.parse(text, exactReviver);
  } catch (error) {
    if (error instanceof FeaturelogError) throw error;
    throw new FeaturelogError('INVALID_JSON', `the body is not valid JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

const MAYBE_UNSAFE_INTEGER = /[0-9]{16}/;

function exactReviver(this: unknown, key: string, value: unknown, context?: { source?: string }): unknown {
  if (key === '__proto__') throw new FeaturelogError('INVALID_JSON', 'the body has a "__proto__" key');
  if (typeof value !== 'number' || Number.isSafeInteger(value) || !Number.isInteger(value)) return value;
  const source = context?.source;
  // Only integer literals: 1e20 or 123.0 are numbers as written, exact or not.
  return source !== undefined && /^-?\d+$/.test(source) ? BigInt(source) : value;
}
