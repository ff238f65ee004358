import { CREATED_TIMESTAMP_FIELD as CREATED, EVENT_TIMESTAMP_FIELD as EVENT } from './row-schema';
import {
  FeaturelogError,
  type DataSourceDefinition,
  type EntityDefinition,
  type FeatureValue,
  type FeatureViewDefinition,
} from '@featurelog/domain';
import type { AvroSchema } from './avro-type';
import type { FeatureRow } from './row-serde';

/** How a source field's number is read as a timestamp, from its Avro logical type. */
export type SourceTimestampUnit = 'millis' | 'micros' | 'nanos' | 'iso-string';

export type KafkaDataSource = Extract<DataSourceDefinition, { kind: 'kafka' }>;

/** The subject a Kafka source's schema is registered under: its own, or `<topic>-value` (TopicNameStrategy). */
export const kafkaSourceSubject = (source: KafkaDataSource): string => source.subject ?? `${source.topic}-value`;

/**
 * Turns records of an existing topic (decoded with the source's own schema) into rows of a view, the
 * way every consumer of such a view must (materializer, compactor), so online and offline agree:
 *
 * - each join key and feature `c` of the view takes the source field mapped to it by `fieldMapping`
 *   (`{ sourceField: c }`), else the source field named `c`; absent is null;
 * - `event_timestamp` comes from `timestampField`, `created_timestamp` from `createdTimestampField`
 *   (else null), converted to epoch microseconds by the field's Avro logical type: timestamp-millis,
 *   timestamp-micros, timestamp-nanos (floored); a plain int/long is epoch MILLIseconds (what backend
 *   apps usually produce); a string is an ISO-8601 instant (UTC unless it says otherwise).
 *
 * Throws SOURCE_MAPPING_INVALID when a timestamp field is missing from the source schema.
 */
export function sourceRowMapper(
  source: KafkaDataSource,
  sourceSchema: AvroSchema,
  view: FeatureViewDefinition,
  entities: readonly EntityDefinition[],
): (record: FeatureRow) => FeatureRow {
  const fields = recordFields(sourceSchema);
  const inverse = new Map<string, string>();
  for (const [from, to] of Object.entries(source.fieldMapping ?? {})) inverse.set(to, from);
  const columns = [
    ...view.entities.flatMap((name) => entities.find((entity) => entity.name === name)?.joinKeys ?? []),
    ...view.features,
  ].map((column) => [column.name, inverse.get(column.name) ?? column.name] as const);
  const eventField = source.timestampField;
  const eventUnit = timestampUnit(source, fields, eventField);
  const createdField = source.createdTimestampField;
  const createdUnit = createdField === undefined ? undefined : timestampUnit(source, fields, createdField);

  return (record) => {
    const row: FeatureRow = {};
    for (const [column, field] of columns) row[column] = record[field] ?? null;
    row[EVENT] = toMicros(record[eventField] ?? null, eventUnit);
    row[CREATED] =
      createdField === undefined || createdUnit === undefined
        ? null
        : toMicros(record[createdField] ?? null, createdUnit);
    return row;
  };
}

function recordFields(schema: AvroSchema): Map<string, unknown> {
  const parsed: unknown = typeof schema === 'string' ? JSON.parse(schema) : schema;
  const fields = (parsed as { fields?: { name: string; type: unknown }[] }).fields ?? [];
  return new Map(fields.map((field) => [field.name, field.type]));
}

function timestampUnit(source: KafkaDataSource, fields: Map<string, unknown>, field: string): SourceTimestampUnit {
  if (!fields.has(field)) {
    throw new FeaturelogError(
      'SOURCE_MAPPING_INVALID',
      `data source '${source.name}': timestamp field '${field}' is not a field of the schema of ${source.topic}`,
    );
  }
  // A nullable field is a union with null; the other branch decides.
  let type = fields.get(field);
  if (Array.isArray(type)) type = type.find((branch) => branch !== 'null');
  if (typeof type === 'string') return type === 'string' ? 'iso-string' : 'millis';
  const logical = (type as { logicalType?: string; type?: string } | undefined)?.logicalType;
  if (logical === 'timestamp-micros' || logical === 'local-timestamp-micros') return 'micros';
  if (logical === 'timestamp-nanos' || logical === 'local-timestamp-nanos') return 'nanos';
  if ((type as { type?: string } | undefined)?.type === 'string') return 'iso-string';
  return 'millis';
}

function toMicros(value: FeatureValue, unit: SourceTimestampUnit): FeatureValue {
  if (value === null) return null;
  if (unit === 'iso-string') {
    if (typeof value !== 'string') return value;
    const text = /[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : `${value}Z`;
    const millis = Date.parse(text);
    // Left as the text so that row validation names the field and the value.
    if (Number.isNaN(millis)) return value;
    const fraction = /\.(\d+)/.exec(value)?.[1] ?? '';
    const extraMicros = fraction.length > 3 ? Number(fraction.slice(3, 6).padEnd(3, '0')) : 0;
    return millis * 1000 + extraMicros;
  }
  if (typeof value !== 'number') return value;
  if (unit === 'millis') return value * 1000;
  if (unit === 'nanos') return Math.floor(value / 1000);
  return value;
}
