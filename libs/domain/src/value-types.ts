/** The scalar types a join key or a feature can have. */
export const SCALAR_TYPES = ['bool', 'int32', 'int64', 'float32', 'float64', 'string', 'bytes', 'timestamp'] as const;
export type ScalarType = (typeof SCALAR_TYPES)[number];

/** A feature's type: a scalar, or a list of one scalar type written `list<float64>`. */
export type ValueType = ScalarType | `list<${ScalarType}>`;

/**
 * In-memory representation of values, one per type:
 * bool → boolean; int32, int64, float32, float64 → number (int64 must be a safe integer);
 * string → string; bytes → Uint8Array; timestamp → epoch microseconds (number, UTC);
 * list<T> → array of T's representation. Null means absent.
 */
export type FeatureValue = boolean | number | string | Uint8Array | FeatureValue[] | null;

export function isScalarType(text: string): text is ScalarType {
  return (SCALAR_TYPES as readonly string[]).includes(text);
}

export function parseValueType(text: string): ValueType | undefined {
  if (isScalarType(text)) return text;
  const list = /^list<([a-z0-9]+)>$/.exec(text);
  if (list && isScalarType(list[1]!)) return `list<${list[1]}>` as ValueType;
  return undefined;
}

/** The element type of a list type, or undefined for a scalar. */
export function listElementType(type: ValueType): ScalarType | undefined {
  return type.startsWith('list<') ? (type.slice(5, -1) as ScalarType) : undefined;
}

/** Join keys are compared and encoded exactly, so only exact types may be keys. */
export const JOIN_KEY_TYPES: readonly ScalarType[] = ['bool', 'int32', 'int64', 'string', 'bytes'];
