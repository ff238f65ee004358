import {
  FeaturelogError,
  listElementType,
  type EntityDefinition,
  type FeatureViewDefinition,
  type ScalarType,
  type ValueType,
} from '@featurelog/domain';

/** Timestamps are epoch microseconds (UTC) everywhere in featurelog. */
export const TIMESTAMP_MICROS = { type: 'long', logicalType: 'timestamp-micros' } as const;

export const EVENT_TIMESTAMP_FIELD = 'event_timestamp';
export const CREATED_TIMESTAMP_FIELD = 'created_timestamp';

export type AvroFieldType =
  | 'boolean'
  | 'int'
  | 'long'
  | 'float'
  | 'double'
  | 'string'
  | 'bytes'
  | typeof TIMESTAMP_MICROS
  | { type: 'array'; items: AvroFieldType };

export interface AvroRowField {
  name: string;
  type: AvroFieldType | ['null', AvroFieldType];
  default?: null;
  doc?: string;
}

/** The Avro record a view's rows travel as on its feature topic. */
export interface AvroRowSchema {
  type: 'record';
  name: string;
  namespace: string;
  doc?: string;
  fields: AvroRowField[];
}

const SCALAR_AVRO_TYPES: Record<ScalarType, AvroFieldType> = {
  bool: 'boolean',
  int32: 'int',
  int64: 'long',
  float32: 'float',
  float64: 'double',
  string: 'string',
  bytes: 'bytes',
  timestamp: TIMESTAMP_MICROS,
};

/** The Avro type of a feature or join key type; lists become arrays of non-null elements. */
export function avroTypeFor(type: ValueType): AvroFieldType {
  const element = listElementType(type);
  if (element !== undefined) return { type: 'array', items: SCALAR_AVRO_TYPES[element] };
  const scalar = SCALAR_AVRO_TYPES[type as ScalarType];
  if (scalar === undefined) throw new FeaturelogError('ROW_SCHEMA_UNKNOWN_TYPE', `unknown value type '${type}'`);
  return scalar;
}

const AVRO_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Avro names allow only [A-Za-z0-9_]; view and project names may hold dashes. */
function avroName(text: string): string {
  const name = text.replace(/[^A-Za-z0-9_]/g, '_');
  return /^[0-9]/.test(name) ? `_${name}` : name;
}

/**
 * The row schema of a feature view (ARCHITECTURE.md, "Feature row schema"): a record named after the
 * view (with `_v<n>` from version 2, like its topic) in namespace `featurelog.<project>`, whose fields
 * are, in this order: each join key of the view's entities (non-null), `event_timestamp`
 * (timestamp-micros), `created_timestamp` (nullable, default null), then each feature as a nullable
 * type with default null, in definition order. Descriptions become `doc`, which schema resolution
 * ignores. The result is plain JSON built in a fixed key order, so deriving it again from the same
 * definitions gives byte-identical text (`JSON.stringify`).
 */
export function rowSchemaFor(
  view: FeatureViewDefinition,
  entities: readonly EntityDefinition[],
  project: string,
): AvroRowSchema {
  const fields: AvroRowField[] = [];
  const origins = new Map<string, string>();
  const add = (field: AvroRowField, origin: string) => {
    if (!AVRO_NAME.test(field.name)) {
      throw new FeaturelogError(
        'ROW_SCHEMA_INVALID_NAME',
        `${origin} of view '${view.name}' is not a valid Avro field name (letters, digits, _; not starting with a digit)`,
      );
    }
    const previous = origins.get(field.name);
    if (previous !== undefined) {
      throw new FeaturelogError(
        'ROW_SCHEMA_DUPLICATE_FIELD',
        `${origin} of view '${view.name}' clashes with ${previous}`,
      );
    }
    origins.set(field.name, origin);
    fields.push(field);
  };

  for (const entityName of view.entities) {
    const entity = entities.find((candidate) => candidate.name === entityName);
    if (entity === undefined) {
      throw new FeaturelogError(
        'ROW_SCHEMA_UNKNOWN_ENTITY',
        `view '${view.name}' uses entity '${entityName}', which is not defined`,
      );
    }
    for (const key of entity.joinKeys) {
      const previous = fields.find((field) => field.name === key.name);
      // Two entities may share a join key (e.g. both keyed by `customer_id`); the view then has one column.
      if (
        previous !== undefined &&
        origins.get(key.name)?.startsWith('join key') &&
        sameJson(previous.type, avroTypeFor(key.type))
      ) {
        continue;
      }
      add(
        withDoc({ name: key.name, type: avroTypeFor(key.type) }, entity.description),
        `join key '${key.name}' of entity '${entity.name}'`,
      );
    }
  }
  add({ name: EVENT_TIMESTAMP_FIELD, type: TIMESTAMP_MICROS }, `field '${EVENT_TIMESTAMP_FIELD}'`);
  add(
    { name: CREATED_TIMESTAMP_FIELD, type: ['null', TIMESTAMP_MICROS], default: null },
    `field '${CREATED_TIMESTAMP_FIELD}'`,
  );
  for (const feature of view.features) {
    add(
      withDoc({ name: feature.name, type: ['null', avroTypeFor(feature.type)], default: null }, feature.description),
      `feature '${feature.name}'`,
    );
  }

  const schema: AvroRowSchema = {
    type: 'record',
    name: avroName(view.version > 1 ? `${view.name}_v${view.version}` : view.name),
    namespace: `featurelog.${project.split('.').map(avroName).join('.')}`,
    fields,
  };
  return view.description
    ? { type: schema.type, name: schema.name, namespace: schema.namespace, doc: view.description, fields }
    : schema;
}

function withDoc(field: AvroRowField, doc: string | undefined): AvroRowField {
  return doc ? { ...field, doc } : field;
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
