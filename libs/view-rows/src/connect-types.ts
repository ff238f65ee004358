import { FeaturelogError } from '@featurelog/domain';

/**
 * The type of one column of a record that carries its own schema (Kafka Connect's JsonConverter with
 * schemas, or an Avro schema written by a Connect Avro converter), reduced to what turning its value
 * into a view's value needs: the representation and, for Connect's and Debezium's logical types, what
 * the number or bytes mean.
 */
export type ColumnType =
  | { kind: 'boolean' | 'int' | 'float' | 'string' | 'bytes' | 'struct' | 'map' | 'any' }
  | { kind: 'array'; items: ColumnType }
  /** A number or text that is a point in time, a date or a time of day (see TEMPORAL_LOGICAL_TYPES). */
  | { kind: 'temporal'; logical: string; unit: TemporalUnit }
  /** An unscaled two's-complement big-endian integer with a fixed scale (Connect's Decimal). */
  | { kind: 'decimal'; scale: number }
  /** Debezium's VariableScaleDecimal: a struct {scale, value} that carries its own scale. */
  | { kind: 'variable-decimal' }
  /** A logical type featurelog does not know: its values' meaning is unknown, so using them is refused. */
  | { kind: 'unknown-logical'; logical: string };

/** How a temporal value is written: a count since the epoch or midnight in a unit, or ISO-8601 text. */
export type TemporalUnit =
  'days' | 'millis' | 'micros' | 'nanos' | 'text' | 'time-millis' | 'time-micros' | 'time-nanos';

const CONNECT = 'org.apache.kafka.connect.data.';
const DEBEZIUM_TIME = 'io.debezium.time.';

/** Connect's and Debezium's temporal logical types (schema `name`), by what their values count. */
export const TEMPORAL_LOGICAL_TYPES: Readonly<Record<string, TemporalUnit>> = {
  [`${CONNECT}Timestamp`]: 'millis',
  [`${CONNECT}Date`]: 'days',
  [`${CONNECT}Time`]: 'time-millis',
  [`${DEBEZIUM_TIME}Timestamp`]: 'millis',
  [`${DEBEZIUM_TIME}MicroTimestamp`]: 'micros',
  [`${DEBEZIUM_TIME}NanoTimestamp`]: 'nanos',
  [`${DEBEZIUM_TIME}ZonedTimestamp`]: 'text',
  [`${DEBEZIUM_TIME}Date`]: 'days',
  [`${DEBEZIUM_TIME}Time`]: 'time-millis',
  [`${DEBEZIUM_TIME}MicroTime`]: 'time-micros',
  [`${DEBEZIUM_TIME}NanoTime`]: 'time-nanos',
};

/** Named types whose values are the plain value of their representation (they only annotate it). */
const ANNOTATIONS = new Set([
  'io.debezium.data.Json',
  'io.debezium.data.Uuid',
  'io.debezium.data.Xml',
  'io.debezium.data.Enum',
  'io.debezium.data.EnumSet',
  'io.debezium.data.Bits',
  'io.debezium.data.Ltree',
  `${DEBEZIUM_TIME}Year`,
  `${DEBEZIUM_TIME}ZonedTime`,
  `${DEBEZIUM_TIME}Interval`,
]);

export const DECIMAL_LOGICAL_TYPE = `${CONNECT}Decimal`;
export const VARIABLE_SCALE_DECIMAL = 'io.debezium.data.VariableScaleDecimal';

const PRIMITIVE_KINDS: Record<string, ColumnType['kind']> = {
  boolean: 'boolean',
  int8: 'int',
  int16: 'int',
  int32: 'int',
  int64: 'int',
  float32: 'float',
  float64: 'float',
  string: 'string',
  bytes: 'bytes',
  struct: 'struct',
  map: 'map',
  array: 'array',
};

/**
 * The column type of a named primitive: a logical type (Connect's or Debezium's), an annotation that
 * keeps the representation, or unknown. Structs' names are record names, not logical types, except
 * Debezium's VariableScaleDecimal.
 */
function logicalColumnType(
  name: string,
  representation: ColumnType['kind'],
  scale: () => string | number | undefined,
): ColumnType | undefined {
  if (representation === 'struct') return name === VARIABLE_SCALE_DECIMAL ? { kind: 'variable-decimal' } : undefined;
  const unit = TEMPORAL_LOGICAL_TYPES[name];
  if (unit !== undefined) return { kind: 'temporal', logical: name, unit };
  if (name === DECIMAL_LOGICAL_TYPE) {
    const parsed = Number(scale());
    if (!Number.isSafeInteger(parsed) || parsed < 0)
      return { kind: 'unknown-logical', logical: `${name} without a scale` };
    return { kind: 'decimal', scale: parsed };
  }
  if (ANNOTATIONS.has(name)) return undefined;
  return { kind: 'unknown-logical', logical: name };
}

/** A field of a Connect JSON schema: `{"type": …, "optional": …, "field": …, "name"?, "parameters"?}`. */
export interface ConnectSchema {
  type?: unknown;
  optional?: boolean;
  name?: unknown;
  field?: unknown;
  default?: unknown;
  parameters?: Record<string, unknown>;
  fields?: ConnectSchema[];
  items?: ConnectSchema;
}

/** The column type of a Connect JSON schema; CONNECT_SCHEMA_INVALID when it is none. */
export function connectColumnType(schema: ConnectSchema, field: string): ColumnType {
  const representation = PRIMITIVE_KINDS[String(schema?.type)];
  if (representation === undefined) {
    throw new FeaturelogError(
      'CONNECT_SCHEMA_INVALID',
      `field ${field}: "${String(schema?.type)}" is not a Connect schema type`,
    );
  }
  if (typeof schema.name === 'string') {
    const logical = logicalColumnType(schema.name, representation, () => schema.parameters?.scale as string);
    if (logical !== undefined) return logical;
  }
  if (representation === 'array') {
    return {
      kind: 'array',
      items: schema.items === undefined ? { kind: 'any' } : connectColumnType(schema.items, `${field}[]`),
    };
  }
  return { kind: representation } as ColumnType;
}

/** Named Avro types of a schema by full name, so references by name resolve (Debezium's `after` is one). */
export type AvroNames = Map<string, Record<string, unknown>>;

export function avroNames(schema: unknown, names: AvroNames = new Map(), namespace = ''): AvroNames {
  if (Array.isArray(schema)) {
    for (const branch of schema) avroNames(branch, names, namespace);
    return names;
  }
  if (schema === null || typeof schema !== 'object') return names;
  const named = schema as Record<string, unknown>;
  let inner = namespace;
  if (typeof named.name === 'string' && ['record', 'error', 'enum', 'fixed'].includes(named.type as string)) {
    const space = typeof named.namespace === 'string' ? named.namespace : namespace;
    const full = named.name.includes('.') ? named.name : space === '' ? named.name : `${space}.${named.name}`;
    names.set(full, named);
    names.set(named.name.slice(named.name.lastIndexOf('.') + 1), named);
    inner = full.includes('.') ? full.slice(0, full.lastIndexOf('.')) : '';
  }
  for (const field of (named.fields as { type: unknown }[] | undefined) ?? []) avroNames(field.type, names, inner);
  if (named.items !== undefined) avroNames(named.items, names, inner);
  if (named.values !== undefined) avroNames(named.values, names, inner);
  if (Array.isArray(named.type) || (named.type !== null && typeof named.type === 'object')) {
    avroNames(named.type, names, inner);
  }
  return names;
}

/** The schema of a record type given inline, by name, or as a union with null; undefined if it is none. */
export function avroRecord(schema: unknown, names: AvroNames): Record<string, unknown> | undefined {
  const resolved = resolveAvro(schema, names);
  return resolved !== undefined && (resolved.type === 'record' || resolved.type === 'error') ? resolved : undefined;
}

function resolveAvro(schema: unknown, names: AvroNames): Record<string, unknown> | undefined {
  if (Array.isArray(schema)) {
    const branches = schema.filter((branch) => branch !== 'null');
    return branches.length === 1 ? resolveAvro(branches[0], names) : undefined;
  }
  if (typeof schema === 'string') return names.get(schema) ?? { type: schema };
  if (schema !== null && typeof schema === 'object') {
    const object = schema as Record<string, unknown>;
    // `{"type": {"type": "long", …}}` nests a type in a type: the inner one is the type.
    if (object.type !== null && typeof object.type === 'object') return resolveAvro(object.type, names);
    return object;
  }
  return undefined;
}

const AVRO_KINDS: Record<string, ColumnType['kind']> = {
  boolean: 'boolean',
  int: 'int',
  long: 'int',
  float: 'float',
  double: 'float',
  string: 'string',
  enum: 'string',
  bytes: 'bytes',
  fixed: 'bytes',
  record: 'struct',
  error: 'struct',
  map: 'map',
  array: 'array',
};

/** Avro's own logical types, for schemas written without Connect's `connect.name`. */
const AVRO_LOGICAL: Record<string, string> = {
  'timestamp-millis': `${CONNECT}Timestamp`,
  'local-timestamp-millis': `${CONNECT}Timestamp`,
  'timestamp-micros': `${DEBEZIUM_TIME}MicroTimestamp`,
  'local-timestamp-micros': `${DEBEZIUM_TIME}MicroTimestamp`,
  'timestamp-nanos': `${DEBEZIUM_TIME}NanoTimestamp`,
  date: `${CONNECT}Date`,
  'time-millis': `${CONNECT}Time`,
  'time-micros': `${DEBEZIUM_TIME}MicroTime`,
  decimal: DECIMAL_LOGICAL_TYPE,
};

/**
 * The column type of an Avro field type as a Connect Avro converter writes it: Connect's logical type in
 * `connect.name` (with `connect.parameters`), else Avro's own `logicalType`; unions with null are
 * optional columns. A union of several types is `any` (its values pass as decoded).
 */
export function avroColumnType(schema: unknown, names: AvroNames): ColumnType {
  const resolved = resolveAvro(schema, names);
  if (resolved === undefined) return { kind: 'any' };
  const representation = AVRO_KINDS[String(resolved.type)];
  if (representation === undefined) return { kind: 'any' };
  const connectName = resolved['connect.name'];
  const parameters = resolved['connect.parameters'] as Record<string, unknown> | undefined;
  const name =
    typeof connectName === 'string'
      ? connectName
      : typeof resolved.logicalType === 'string'
        ? AVRO_LOGICAL[resolved.logicalType]
        : undefined;
  if (name !== undefined) {
    const logical = logicalColumnType(name, representation, () => (resolved.scale as number) ?? parameters?.scale);
    if (logical !== undefined) return logical;
  }
  if (representation === 'array') return { kind: 'array', items: avroColumnType(resolved.items, names) };
  return { kind: representation } as ColumnType;
}
