/**
 * JSON with object keys sorted and undefined members dropped, so two values that mean the same
 * thing serialize to the same text whatever order their keys were built in. Used to compare
 * definitions and to check that a rebuilt registry state is identical to the original.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(canonicalize(value));
}

/** The value with object keys sorted (recursively) and undefined members removed. */
export function canonicalize(value: unknown): unknown {
  if (Array.isArray(value)) return value.map((item) => (item === undefined ? null : canonicalize(item)));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const member = (value as Record<string, unknown>)[key];
      if (member !== undefined) out[key] = canonicalize(member);
    }
    return out;
  }
  return value;
}
