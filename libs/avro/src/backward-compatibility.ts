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
 * Whether `newSchema` may replace `oldSchema` (BACKWARD): the new schema, as reader, must read data
 * written with the old one by Avro schema resolution — and, stricter than Avro, it must keep every
 * field of the old record, because a feature consumers rely on must not silently vanish (dropping
 * one is a new view version). Returns one message per problem, naming the field and its role in a
 * row schema (join key, feature, field), e.g. "feature 'conv_rate' changed type from double to
 * string"; empty means compatible. Throws AVRO_SCHEMA_INVALID if either schema does not parse.
 */
export function checkBackwardCompatible(oldSchema: AvroSchema, newSchema: AvroSchema): string[] {
  const oldJson = parseSchema(oldSchema);
  const newJson = parseSchema(newSchema);
  const oldType = avroType(oldJson);
  const newType = avroType(newJson);
  if (!isRecord(oldJson) || !isRecord(newJson)) {
    const reason = unresolvable(newType, oldType);
    return reason === undefined ? [] : [`schema changed from ${describe(oldJson)} to ${describe(newJson)}: ${reason}`];
  }

  const problems: string[] = [];
  if (!sameName(oldJson, newJson)) {
    problems.push(
      `record name changed from ${fullName(oldJson)} to ${fullName(newJson)} (add the old name to "aliases" to rename)`,
    );
  }
  const isRow =
    newJson.fields.some((field) => field.name === EVENT_TIMESTAMP_FIELD) ||
    oldJson.fields.some((field) => field.name === EVENT_TIMESTAMP_FIELD);
  const role = (field: FieldSchema) => {
    if (!isRow || field.name === EVENT_TIMESTAMP_FIELD || field.name === CREATED_TIMESTAMP_FIELD)
      return `field '${field.name}'`;
    return isNullable(field.type) ? `feature '${field.name}'` : `join key '${field.name}'`;
  };
  const oldRecord = oldType as RecordType;
  const newRecord = newType as RecordType;

  for (const oldField of oldJson.fields) {
    const newField = newJson.fields.find(
      (field) => field.name === oldField.name || (field.aliases ?? []).includes(oldField.name),
    );
    if (newField === undefined) {
      problems.push(`${role(oldField)} was removed`);
      continue;
    }
    const reason = unresolvable(newRecord.field(newField.name)!.type, oldRecord.field(oldField.name)!.type);
    if (reason === undefined) continue;
    const from = describe(oldField.type);
    const to = describe(newField.type);
    if (from !== to) problems.push(`${role(oldField)} changed type from ${from} to ${to}`);
    else if (isNullable(oldField.type) && !isNullable(newField.type))
      problems.push(`${role(oldField)} became non-nullable (old data may hold null)`);
    else problems.push(`${role(oldField)} changed type incompatibly: ${reason}`);
  }
  for (const newField of newJson.fields) {
    const existed = oldJson.fields.some(
      (field) => field.name === newField.name || (newField.aliases ?? []).includes(field.name),
    );
    if (!existed && !('default' in newField)) {
      problems.push(`${role(newField)} was added without a default (old data has no value for it)`);
    }
  }
  if (problems.length === 0) {
    // Field by field found nothing; the whole-record resolution is the final word.
    const reason = unresolvable(newType, oldType);
    if (reason !== undefined)
      problems.push(`record ${fullName(newJson)} cannot read data written with the old schema: ${reason}`);
  }
  return problems;
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
