import type { Type } from 'avsc';
import { avroType, parseSchema, type AvroSchema } from './avro-type';
import { CREATED_TIMESTAMP_FIELD, EVENT_TIMESTAMP_FIELD } from './row-schema';

interface FieldSchema {
  name: string;
  type: unknown;
  default?: unknown;
  aliases?: string[];
}

interface RecordSchema {
  type: 'record' | 'error';
  name: string;
  namespace?: string;
  aliases?: string[];
  fields: FieldSchema[];
}

type RecordType = Type & { fields: { name: string; type: Type }[]; field(name: string): { type: Type } | undefined };

/**
 * One reason a schema may not replace another, structured so that each caller can word it: the
 * schema registry in Avro's terms, `plan` and `apply` in featurelog's (see describeRowProblem).
 */
export interface CompatibilityProblem {
  /** What kind of change: a field removed, retyped, made non-nullable, added without default; a record renamed; or anything else Avro refuses. */
  change: 'removed' | 'retyped' | 'non-nullable' | 'added-without-default' | 'renamed' | 'incompatible';
  /** In a row schema: `join key`, `feature`, or `field` (the timestamps); `field` elsewhere; `record` for the whole schema. */
  role: 'join key' | 'feature' | 'field' | 'record';
  /** The field's name, or the record's full name. */
  name: string;
  /** The field's (or schema's) old and new type as written in the schemas. */
  from?: unknown;
  to?: unknown;
  /** Avro's own words, when it gave any. */
  reason?: string;
  /** The problem in Avro's terms, e.g. "feature 'conv_rate' changed type from double to string". */
  message: string;
}

/**
 * Whether `newSchema` may replace `oldSchema` (BACKWARD): the new schema, as reader, must read data
 * written with the old one by Avro schema resolution — and, stricter than Avro, it must keep every
 * field of the old record, because a feature consumers rely on must not silently vanish (dropping
 * one is a new view version). Returns one message per problem, naming the field and its role in a
 * row schema (join key, feature, field), e.g. "feature 'conv_rate' changed type from double to
 * string"; empty means compatible. Throws AVRO_SCHEMA_INVALID if either schema does not parse.
 */
export function checkBackwardCompatible(oldSchema: AvroSchema, newSchema: AvroSchema): string[] {
  return backwardCompatibilityProblems(oldSchema, newSchema).map((problem) => problem.message);
}

/** checkBackwardCompatible's problems, structured. */
export function backwardCompatibilityProblems(oldSchema: AvroSchema, newSchema: AvroSchema): CompatibilityProblem[] {
  const oldJson = parseSchema(oldSchema);
  const newJson = parseSchema(newSchema);
  const oldType = avroType(oldJson);
  const newType = avroType(newJson);
  if (!isRecord(oldJson) || !isRecord(newJson)) {
    const reason = unresolvable(newType, oldType);
    if (reason === undefined) return [];
    return [
      {
        change: 'incompatible',
        role: 'record',
        name: isRecord(newJson) ? fullName(newJson) : describe(newJson),
        from: oldJson,
        to: newJson,
        reason,
        message: `schema changed from ${describe(oldJson)} to ${describe(newJson)}: ${reason}`,
      },
    ];
  }

  const problems: CompatibilityProblem[] = [];
  if (!sameName(oldJson, newJson)) {
    problems.push({
      change: 'renamed',
      role: 'record',
      name: fullName(newJson),
      from: fullName(oldJson),
      to: fullName(newJson),
      message: `record name changed from ${fullName(oldJson)} to ${fullName(newJson)} (add the old name to "aliases" to rename)`,
    });
  }
  const isRow =
    newJson.fields.some((field) => field.name === EVENT_TIMESTAMP_FIELD) ||
    oldJson.fields.some((field) => field.name === EVENT_TIMESTAMP_FIELD);
  const roleOf = (field: FieldSchema): CompatibilityProblem['role'] => {
    if (!isRow || field.name === EVENT_TIMESTAMP_FIELD || field.name === CREATED_TIMESTAMP_FIELD) return 'field';
    return isNullable(field.type) ? 'feature' : 'join key';
  };
  const problem = (
    field: FieldSchema,
    change: CompatibilityProblem['change'],
    text: string,
    extra: Partial<CompatibilityProblem> = {},
  ): CompatibilityProblem => {
    const role = roleOf(field);
    return { change, role, name: field.name, ...extra, message: `${role} '${field.name}' ${text}` };
  };
  const oldRecord = oldType as RecordType;
  const newRecord = newType as RecordType;

  for (const oldField of oldJson.fields) {
    const newField = newJson.fields.find(
      (field) => field.name === oldField.name || (field.aliases ?? []).includes(oldField.name),
    );
    if (newField === undefined) {
      problems.push(problem(oldField, 'removed', 'was removed', { from: oldField.type }));
      continue;
    }
    const reason = unresolvable(newRecord.field(newField.name)!.type, oldRecord.field(oldField.name)!.type);
    if (reason === undefined) continue;
    const types = { from: oldField.type, to: newField.type, reason };
    const from = describe(oldField.type);
    const to = describe(newField.type);
    if (from !== to) problems.push(problem(oldField, 'retyped', `changed type from ${from} to ${to}`, types));
    else if (isNullable(oldField.type) && !isNullable(newField.type))
      problems.push(problem(oldField, 'non-nullable', 'became non-nullable (old data may hold null)', types));
    else problems.push(problem(oldField, 'incompatible', `changed type incompatibly: ${reason}`, types));
  }
  for (const newField of newJson.fields) {
    const existed = oldJson.fields.some(
      (field) => field.name === newField.name || (newField.aliases ?? []).includes(field.name),
    );
    if (!existed && !('default' in newField)) {
      problems.push(
        problem(newField, 'added-without-default', 'was added without a default (old data has no value for it)', {
          to: newField.type,
        }),
      );
    }
  }
  if (problems.length === 0) {
    // Field by field found nothing; the whole-record resolution is the final word.
    const reason = unresolvable(newType, oldType);
    if (reason !== undefined)
      problems.push({
        change: 'incompatible',
        role: 'record',
        name: fullName(newJson),
        reason,
        message: `record ${fullName(newJson)} cannot read data written with the old schema: ${reason}`,
      });
  }
  return problems;
}

const FEATURELOG_TYPE_OF_AVRO: Record<string, string> = {
  boolean: 'bool',
  int: 'int32',
  long: 'int64',
  float: 'float32',
  double: 'float64',
  string: 'string',
  bytes: 'bytes',
};

/**
 * An Avro type of a row schema by the featurelog type it was derived from (see avroTypeFor):
 * `long` is `int64`, `{long, timestamp-micros}` is `timestamp`, an array of doubles `list<float64>`,
 * a nullable union its value type. A type featurelog never derives keeps its Avro description.
 */
export function featurelogTypeName(type: unknown): string {
  if (typeof type === 'string') return FEATURELOG_TYPE_OF_AVRO[type] ?? type;
  if (Array.isArray(type)) {
    const branches = type.filter((branch) => branch !== 'null');
    return branches.length === 1 ? featurelogTypeName(branches[0]) : describe(type);
  }
  if (typeof type === 'object' && type !== null) {
    const complex = type as { type?: unknown; logicalType?: unknown; items?: unknown };
    if (complex.logicalType === 'timestamp-micros' && complex.type === 'long') return 'timestamp';
    if (complex.type === 'array') return `list<${featurelogTypeName(complex.items)}>`;
    if (typeof complex.logicalType !== 'string' && typeof complex.type === 'string' && Object.keys(type).length === 1)
      return featurelogTypeName(complex.type);
  }
  return describe(type);
}

/**
 * A problem of a view's row schema in featurelog's words, without the Avro: "feature conv_rate
 * int64 → string is not backward compatible", "join key driver_id was removed".
 */
export function describeRowProblem(problem: CompatibilityProblem): string {
  const subject = problem.role === 'record' ? `the row schema ${problem.name}` : `${problem.role} ${problem.name}`;
  switch (problem.change) {
    case 'retyped':
      return `${subject} ${featurelogTypeName(problem.from)} → ${featurelogTypeName(problem.to)} is not backward compatible`;
    case 'removed':
      return `${subject} was removed (rows already written hold it, and readers rely on it)`;
    case 'non-nullable':
      return `${subject} became non-nullable (rows already written may hold null)`;
    case 'added-without-default':
      return `${subject} was added, and rows already written have no value for it`;
    case 'renamed':
      return `${subject} was renamed from ${String(problem.from)}`;
    case 'incompatible':
      return problem.role === 'record'
        ? `${subject} cannot read rows already written: ${problem.reason ?? ''}`
        : `${subject} ${featurelogTypeName(problem.from)} → ${featurelogTypeName(problem.to)} is not backward compatible: ${problem.reason ?? ''}`;
  }
}

function unresolvable(reader: Type, writer: Type): string | undefined {
  try {
    reader.createResolver(writer);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

function isRecord(schema: unknown): schema is RecordSchema {
  const candidate = schema as Partial<RecordSchema> | null;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    (candidate.type === 'record' || candidate.type === 'error') &&
    Array.isArray(candidate.fields)
  );
}

function fullName(schema: RecordSchema): string {
  return schema.name.includes('.') || !schema.namespace ? schema.name : `${schema.namespace}.${schema.name}`;
}

function sameName(oldSchema: RecordSchema, newSchema: RecordSchema): boolean {
  const oldName = fullName(oldSchema);
  const namespace = newSchema.namespace;
  const aliases = (newSchema.aliases ?? []).map((alias) =>
    alias.includes('.') || !namespace ? alias : `${namespace}.${alias}`,
  );
  return oldName === fullName(newSchema) || aliases.includes(oldName);
}

function isNullable(type: unknown): boolean {
  return type === 'null' || (Array.isArray(type) && type.includes('null'));
}

/** A short name for a type in messages: `double`, `timestamp-micros`, `array<float>`, nullable unions by their value type. */
function describe(type: unknown): string {
  if (typeof type === 'string') return type;
  if (Array.isArray(type)) {
    const branches = type.filter((branch) => branch !== 'null');
    if (branches.length === 0) return 'null';
    return branches.map(describe).join(' | ');
  }
  if (typeof type === 'object' && type !== null) {
    const complex = type as {
      type?: unknown;
      logicalType?: unknown;
      items?: unknown;
      values?: unknown;
      name?: unknown;
    };
    if (typeof complex.logicalType === 'string') return complex.logicalType;
    if (complex.type === 'array') return `array<${describe(complex.items)}>`;
    if (complex.type === 'map') return `map<${describe(complex.values)}>`;
    if (typeof complex.name === 'string') return complex.name;
    return describe(complex.type);
  }
  return String(type);
}
