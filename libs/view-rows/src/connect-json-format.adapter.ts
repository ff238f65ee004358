import type { KafkaDataSource } from '@featurelog/avro';
import { FeaturelogError, type EntityDefinition, type FeatureViewDefinition } from '@featurelog/domain';
import { connectColumnType, type ColumnType, type ConnectSchema } from './connect-types';
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

const SCHEMA_START = Buffer.from('{"schema":');
const PAYLOAD_KEY = Buffer.from(',"payload":');
const CLOSE_BRACE = 0x7d;

/**
 * Reads JsonConverter records with schemas. Each record repeats its schema, mostly three quarters of its
 * bytes (a Debezium envelope: ~3.5 KB of 4.5): the reader keeps the exact bytes of the last schema
 * (`{"schema":<schema>,"payload":`, as JsonConverter writes it, without white space) and, for a record
 * that starts with the very same bytes, parses only the payload and reuses the parsed schema. Anything
 * else (another schema, other spacing, other keys, invalid JSON) is parsed whole, so what is accepted or
 * refused, and why, is the same either way.
 */
export class ConnectEnvelopeReader {
  private prefix: Buffer | undefined;
  private schema: ConnectSchema | undefined;

  constructor(private readonly topic: string) {}

  read(value: Uint8Array): ConnectEnvelope {
    const bytes = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.length);
    const { prefix, schema } = this;
    if (
      prefix !== undefined &&
      bytes.length > prefix.length &&
      bytes[bytes.length - 1] === CLOSE_BRACE &&
      bytes.compare(prefix, 0, prefix.length, 0, prefix.length) === 0
    ) {
      try {
        return { schema: schema!, payload: JSON.parse(utf8.decode(bytes.subarray(prefix.length, bytes.length - 1))) };
      } catch {
        // Not a payload alone (trailing keys, invalid JSON): the whole record says what is wrong.
      }
    }
    const envelope = connectEnvelope(parseJsonValue(bytes, this.topic), this.topic);
    this.remember(bytes, envelope.schema);
    return envelope;
  }

  private remember(bytes: Buffer, schema: ConnectSchema): void {
    if (bytes.compare(SCHEMA_START, 0, SCHEMA_START.length, 0, SCHEMA_START.length) !== 0) return;
    const end = bytes.indexOf(PAYLOAD_KEY, SCHEMA_START.length);
    if (end < 0) return;
    // `,"payload":` may also be inside the schema's text: the prefix is kept only if it is the schema.
    try {
      const text = utf8.decode(bytes.subarray(SCHEMA_START.length, end));
      if (JSON.stringify(JSON.parse(text)) !== JSON.stringify(schema)) return;
    } catch {
      return;
    }
    this.prefix = Buffer.from(bytes.subarray(0, end + PAYLOAD_KEY.length));
    this.schema = schema;
  }
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
  const byName = structFields(schema);
  return (field) => {
    const column = byName.get(field);
    if (column === undefined) return undefined;
    const fieldSchema = column.schema;
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
    column.type ??= connectColumnType(fieldSchema, field);
    return { type: column.type, value };
  };
}

/** The fields of a struct schema by name, each with its column type once asked: kept per schema object. */
const fieldsBySchema = new WeakMap<ConnectSchema, Map<string, { schema: ConnectSchema; type?: ColumnType }>>();

function structFields(schema: ConnectSchema): Map<string, { schema: ConnectSchema; type?: ColumnType }> {
  let byName = fieldsBySchema.get(schema);
  if (byName === undefined) {
    byName = new Map();
    for (const field of schema.fields ?? [])
      if (typeof field?.field === 'string') byName.set(field.field, { schema: field });
    fieldsBySchema.set(schema, byName);
  }
  return byName;
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
  private readonly envelopes: ConnectEnvelopeReader;

  constructor(
    private readonly source: KafkaDataSource,
    view: FeatureViewDefinition,
    entities: readonly EntityDefinition[],
  ) {
    this.columns = new SourceColumns(source, view, entities, 'base64');
    this.envelopes = new ConnectEnvelopeReader(source.topic);
  }

  prepare(): Promise<void> {
    return Promise.resolve();
  }

  decode(value: Uint8Array): SourceChange {
    const { schema, payload } = this.envelopes.read(value);
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
