import type { KafkaDataSource } from '@featurelog/avro';
import { FeaturelogError, type EntityDefinition, type FeatureViewDefinition } from '@featurelog/domain';
import { connectColumnType, type ConnectSchema } from './connect-types';
import type { SourceChange, ViewRecordFormat } from './record-format.port';
import { SourceColumns, type ColumnLookup } from './source-columns';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A record's value as JSON; JSON_MALFORMED (naming the topic) when it is not UTF-8 JSON. */
export function parseJsonValue(value: Uint8Array, topic: string): unknown {
  try {
    return JSON.parse(utf8.decode(value));
  } catch (error) {
    throw new FeaturelogError('JSON_MALFORMED', `a record of ${topic} is not JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** JsonConverter's `{"schema": …, "payload": …}` (schemas.enable=true). */
export interface ConnectEnvelope {
  schema: ConnectSchema;
  payload: unknown;
}

/** The envelope of a JsonConverter record with schemas; CONNECT_SCHEMA_MISSING when it has none. */
export function connectEnvelope(parsed: unknown, topic: string): ConnectEnvelope {
  if (!isObject(parsed) || !isObject(parsed.schema) || !('payload' in parsed)) {
    throw new FeaturelogError(
      'CONNECT_SCHEMA_MISSING',
      `a record of ${topic} has no {"schema", "payload"} envelope: its source reads Kafka Connect's ` +
        `JsonConverter with schemas.enable=true, and this record was written without schemas`,
    );
  }
  return parsed as unknown as ConnectEnvelope;
}

/**
 * The columns of a Connect struct (its schema and its payload), looked up by field name as a view's
 * mapping asks for them. A null takes the field's schema default, as JsonConverter reads it; a null in
 * a required field without a default is CONNECT_PAYLOAD_INVALID. A field the schema does not have is
 * absent (its view column null).
 */
export function connectStructLookup(schema: ConnectSchema, payload: unknown, where: string): ColumnLookup {
  if (schema.type !== 'struct' || !Array.isArray(schema.fields)) {
    throw new FeaturelogError(
      'CONNECT_SCHEMA_INVALID',
      `${where}: the schema is a ${String(schema.type)}, not a struct`,
    );
  }
  if (!isObject(payload)) {
    throw new FeaturelogError('CONNECT_PAYLOAD_INVALID', `${where}: the payload of a struct must be a JSON object`);
  }
  const fields = schema.fields;
  let byName: Map<string, ConnectSchema> | undefined;
  return (field) => {
    if (byName === undefined) {
      byName = new Map();
      for (const candidate of fields) if (typeof candidate?.field === 'string') byName.set(candidate.field, candidate);
    }
    const fieldSchema = byName.get(field);
    if (fieldSchema === undefined) return undefined;
    let value = payload[field];
    if (value === null || value === undefined) {
      value = fieldSchema.default ?? null;
      if (value === null && fieldSchema.optional !== true) {
        throw new FeaturelogError(
          'CONNECT_PAYLOAD_INVALID',
          `${where}: field ${field} is null, but its schema says it is required and has no default`,
        );
      }
    }
    return { type: connectColumnType(fieldSchema, field), value };
  };
}

/**
 * A `connect-json` source: Kafka Connect's JsonConverter with `schemas.enable=true`. Each record says
 * its own schema, whose logical types (Timestamp, Date, Time, Decimal with its scale, Debezium's time
 * types) type the values; mapped by the source's field mapping (SourceColumns). A record without the
 * envelope is CONNECT_SCHEMA_MISSING.
 */
export class ConnectJsonFormat implements ViewRecordFormat {
  readonly typed = false;
  readonly tombstonesFollowDeletes = false;
  private readonly columns: SourceColumns;

  constructor(
    private readonly source: KafkaDataSource,
    view: FeatureViewDefinition,
    entities: readonly EntityDefinition[],
  ) {
    this.columns = new SourceColumns(source, view, entities, 'base64');
  }

  prepare(): Promise<void> {
    return Promise.resolve();
  }

  decode(value: Uint8Array): SourceChange {
    const { schema, payload } = connectEnvelope(parseJsonValue(value, this.source.topic), this.source.topic);
    return { op: 'upsert', row: this.columns.row(connectStructLookup(schema, payload, this.source.topic)) };
  }
}

/**
 * A `json` source: plain JSON objects without schemas, typed by the view's definition (timestamps as
 * ISO-8601 text or epoch milliseconds, bytes as base64). A JsonConverter envelope with schemas on it is
 * JSON_HAS_SCHEMA (the source's format should then be connect-json), anything but an object
 * JSON_NOT_OBJECT.
 */
export class PlainJsonFormat implements ViewRecordFormat {
  readonly typed = false;
  readonly tombstonesFollowDeletes = false;
  private readonly columns: SourceColumns;

  constructor(
    private readonly source: KafkaDataSource,
    view: FeatureViewDefinition,
    entities: readonly EntityDefinition[],
  ) {
    this.columns = new SourceColumns(source, view, entities, 'base64');
  }

  prepare(): Promise<void> {
    return Promise.resolve();
  }

  decode(value: Uint8Array): SourceChange {
    const parsed = parseJsonValue(value, this.source.topic);
    if (!isObject(parsed)) {
      throw new FeaturelogError('JSON_NOT_OBJECT', `a record of ${this.source.topic} is JSON but not an object`);
    }
    if (isObject(parsed.schema) && 'payload' in parsed && Object.keys(parsed).length === 2) {
      throw new FeaturelogError(
        'JSON_HAS_SCHEMA',
        `a record of ${this.source.topic} is a JsonConverter envelope with schemas; ` +
          `declare the source's format as connect-json to read it`,
      );
    }
    const lookup: ColumnLookup = (field) =>
      Object.hasOwn(parsed, field) ? { type: null, value: parsed[field] } : undefined;
    return { op: 'upsert', row: this.columns.row(lookup) };
  }
}
