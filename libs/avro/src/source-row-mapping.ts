import { CREATED_TIMESTAMP_FIELD as CREATED, EVENT_TIMESTAMP_FIELD as EVENT } from './row-schema';
import {
  FeaturelogError,
  parseTimestampText,
  viewJoinKeys,
  type DataSourceDefinition,
  type EntityDefinition,
  type FeatureValue,
  type FeatureViewDefinition,
} from '@featurelog/domain';
import type { AvroSchema } from './avro-type';
import { readerSchema, type FeatureRow, type RowDecoder, type WriterSchemaSource } from './row-serde';
import { PreparedWriterSchemas } from './writer-schemas';

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
  const columns = [...viewJoinKeys(entities, view), ...view.features].map(
    (column) => [column.name, inverse.get(column.name) ?? column.name] as const,
  );
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
    // Text that is no timestamp is left as it is, so that row validation names the field and the value.
    return parseTimestampText(value) ?? value;
  }
  if (typeof value !== 'number') return value;
  if (unit === 'millis') return value * 1000;
  if (unit === 'nanos') return Math.floor(value / 1000);
  return value;
}

/**
 * Decodes the records of an existing topic into rows of a view: the Confluent-Avro format of a `kafka`
 * data source in @featurelog/view-rows, whose ViewRowDecoder every reader of such a view shares
 * (materializer, compactor, exports, backfills, serving), so that online, segments and the log tail
 * agree. Each record is decoded with its own writer schema (by the id in its wire header) as is, then
 * mapped by {@link sourceRowMapper}; the values are not checked against the view's types here
 * (ViewRowDecoder checks them).
 *
 * `prepare` loads the writer schemas of a batch; it throws only when the registry cannot answer (an
 * outage, retriable). A writer schema id the registry does not know, or a schema the mapping cannot use
 * (its timestamp field missing: SOURCE_SCHEMA_UNUSABLE), makes its records poison: `decode` throws a
 * non-retriable FeaturelogError for them, as for a malformed wire header or an undecodable body.
 */
export class SourceRecordDecoder {
  private readonly records: PreparedWriterSchemas<(record: FeatureRow) => FeatureRow>;

  constructor(
    readonly source: KafkaDataSource,
    view: FeatureViewDefinition,
    entities: readonly EntityDefinition[],
    decoder: RowDecoder,
    schemas: WriterSchemaSource,
  ) {
    this.records = new PreparedWriterSchemas(source.topic, decoder, schemas, (id, schema) => {
      try {
        return { reader: readerSchema(schema), use: sourceRowMapper(source, schema, view, entities) };
      } catch (error) {
        return new FeaturelogError(
          'SOURCE_SCHEMA_UNUSABLE',
          `writer schema ${id} of ${source.topic} cannot feed view "${view.name}": ${(error as Error).message}`,
          { cause: error },
        );
      }
    });
  }

  prepare(values: Iterable<Uint8Array>): Promise<void> {
    return this.records.prepare(values);
  }

  /** The view row of a prepared record; throws a non-retriable FeaturelogError for a poison record. */
  decode(value: Uint8Array): FeatureRow {
    const { record, use: map } = this.records.decode(value);
    return map(record);
  }
}
