import {
  PreparedWriterSchemas,
  readerSchema,
  WIRE_MAGIC_BYTE,
  type KafkaDataSource,
  type RowDecoder,
  type WriterSchemaSource,
} from '@featurelog/avro';
import { FeaturelogError, type EntityDefinition, type FeatureViewDefinition } from '@featurelog/domain';
import { ConnectEnvelopeReader, connectStructLookup } from './connect-json-format.adapter';
import { avroColumnType, avroNames, avroRecord, type ColumnType } from './connect-types';
import type { SourceChange, ViewRecordFormat } from './record-format.port';
import { SourceColumns, type ColumnLookup } from './source-columns';
import { debeziumSourcePosition, type DebeziumSourceFields } from './source-position';

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** The columns of one Avro writer schema's rows: the type of each field of the row record. */
type RowColumns = Map<string, ColumnType>;
type AvroNames = ReturnType<typeof avroNames>;

/**
 * Records of a CDC source written by a Connect Avro converter (Confluent's, or Apicurio's configured for
 * the Confluent wire format): each is decoded with its own writer schema as is, and the row record in it
 * (Debezium's `after`/`before`, or the flattened row) gives its columns' types from the schema's
 * `connect.name` / `logicalType`. An id the registry does not know, or a schema without the row record,
 * makes its records poison; a registry that does not answer fails `prepare` (retriable).
 */
function avroChanges(
  topic: string,
  decoder: RowDecoder,
  schemas: WriterSchemaSource,
  /** The row record of a writer schema, or a message saying why it has none. */
  rowRecord: (schema: Record<string, unknown>, names: AvroNames) => unknown,
): PreparedWriterSchemas<RowColumns> {
  return new PreparedWriterSchemas(topic, decoder, schemas, (id, schema) => {
    const parsed: unknown = typeof schema === 'string' ? JSON.parse(schema) : schema;
    const names = avroNames(parsed);
    const record = isObject(parsed) ? rowRecord(parsed, names) : undefined;
    const row = avroRecord(record, names);
    if (row === undefined) {
      return new FeaturelogError(
        'SOURCE_SCHEMA_UNUSABLE',
        `writer schema ${id} of ${topic} has no row record where its format expects one`,
      );
    }
    const columns: RowColumns = new Map();
    for (const field of (row.fields as { name: string; type: unknown }[] | undefined) ?? []) {
      columns.set(field.name, avroColumnType(field.type, names));
    }
    // Debezium's envelope carries ts_ns, beyond the safe integers: such longs must not fail the record.
    return { reader: readerSchema(schema, { wideLongs: true }), use: columns };
  });
}

/** Whether a record is in the Confluent wire format (Avro) rather than JSON: JSON never starts with 0. */
const isAvro = (value: Uint8Array): boolean => value.length > 0 && value[0] === WIRE_MAGIC_BYTE;

function avroLookup(row: unknown, columns: RowColumns): ColumnLookup {
  const values = row as Record<string, unknown>;
  return (field) => {
    const type = columns.get(field);
    return type === undefined ? undefined : { type, value: values[field] };
  };
}

/**
 * Where a change sits in the source database's log, as Debezium's `source` block says it, normalised to
 * a fixed-width digit string per connector (see debeziumSourcePosition).
 */
export function debeziumPosition(source: Record<string, unknown>): string | undefined {
  return debeziumSourcePosition(source);
}

/** The `source` fields ExtractNewRecordState added to a row (`add.fields=source.lsn` is `__source_lsn`, `lsn` is `__lsn`). */
function unwrappedSourceFields(record: Record<string, unknown>): DebeziumSourceFields {
  const fields: Record<string, unknown> = {};
  for (const name of UNWRAPPED_SOURCE_FIELDS) {
    const value = record[`__source_${name}`] ?? record[`__${name}`];
    if (value !== undefined && value !== null) fields[name] = value;
  }
  return fields;
}

const UNWRAPPED_SOURCE_FIELDS = ['connector', 'lsn', 'file', 'pos', 'row', 'change_lsn', 'commit_lsn', 'scn'] as const;

const UPSERT_OPS = new Set(['c', 'u', 'r']);

/**
 * What both Debezium formats share: a record is in the Confluent wire format (Avro, its columns typed by
 * its writer schema, see avroChanges) or in JsonConverter with schemas (bytes as base64 text), and its row
 * maps to the view by the source's field mapping either way.
 */
abstract class ConnectChangeFormat {
  readonly typed = false;
  protected readonly json: SourceColumns;
  protected readonly avro: SourceColumns;
  protected readonly avroChanges: PreparedWriterSchemas<RowColumns>;
  protected readonly envelopes: ConnectEnvelopeReader;

  constructor(
    protected readonly source: KafkaDataSource,
    view: FeatureViewDefinition,
    entities: readonly EntityDefinition[],
    decoder: RowDecoder,
    schemas: WriterSchemaSource,
  ) {
    this.json = new SourceColumns(source, view, entities, 'base64');
    this.avro = new SourceColumns(source, view, entities, 'binary');
    this.envelopes = new ConnectEnvelopeReader(source.topic);
    this.avroChanges = avroChanges(source.topic, decoder, schemas, (schema, names) => this.rowRecord(schema, names));
  }

  /** The row record of a writer schema (Debezium's `after`, or the flattened row itself), if it has one. */
  protected abstract rowRecord(schema: Record<string, unknown>, names: AvroNames): unknown;

  prepare(values: readonly Uint8Array[]): Promise<void> {
    return this.avroChanges.prepare(values.filter(isAvro));
  }
}

/**
 * A `debezium` source: Debezium's change-event envelope (`before`, `after`, `source`, `op`, `ts_ms`),
 * in JsonConverter with schemas or in Avro through the schema registry (each record says which: the
 * Confluent wire format starts with byte 0, JSON never does).
 *
 * - `op` c (insert), u (update) and r (a snapshot read) upsert `after`, mapped by the source's field
 *   mapping; an upsert without `after` is DEBEZIUM_AFTER_MISSING;
 * - `op` d deletes the entity whose join keys `before` holds (DEBEZIUM_BEFORE_MISSING without it, and
 *   DEBEZIUM_DELETE_KEY_MISSING when `before` lacks a join key: with PostgreSQL's default replica
 *   identity, `before` holds the primary key only);
 * - the tombstone Debezium writes after a delete says nothing the delete did not (and has no time of
 *   its own): tombstonesFollowDeletes;
 * - other ops (t truncate, m message) are DEBEZIUM_OP_UNSUPPORTED;
 * - the event time is `source.ts_ms`, when the change was committed in the source database, not the
 *   envelope's `ts_ms` (when the connector read it); the source position (`source.lsn`, MySQL's binlog
 *   file, pos and row, SQL Server's LSNs, Oracle's SCN), as fixed-width digits, is the change's
 *   sourcePosition (debeziumSourcePosition).
 */
export class DebeziumFormat extends ConnectChangeFormat implements ViewRecordFormat {
  readonly tombstonesFollowDeletes = true;

  protected rowRecord(schema: Record<string, unknown>, names: AvroNames): unknown {
    const fields = (schema.fields as { name: string; type: unknown }[] | undefined) ?? [];
    const after = fields.find((field) => field.name === 'after') ?? fields.find((field) => field.name === 'before');
    return after === undefined ? undefined : avroRecord(after.type, names);
  }

  decode(value: Uint8Array): SourceChange {
    if (isAvro(value)) {
      const { record, use: columns } = this.avroChanges.decode(value);
      return this.change(record as Record<string, unknown>, this.avro, (row) => avroLookup(row, columns));
    }
    const { schema, payload } = this.envelopes.read(value);
    if (!isObject(payload)) {
      throw new FeaturelogError(
        'DEBEZIUM_ENVELOPE_INVALID',
        `a record of ${this.source.topic}: the payload is no object`,
      );
    }
    return this.change(payload, this.json, (row, which) => {
      const rowSchema = schema.fields?.find((field) => field.field === which);
      if (rowSchema === undefined) {
        throw new FeaturelogError(
          'DEBEZIUM_ENVELOPE_INVALID',
          `a record of ${this.source.topic}: the envelope's schema has no "${which}" field`,
        );
      }
      return connectStructLookup(rowSchema, row, `${this.source.topic} ${which}`);
    });
  }

  private change(
    envelope: Record<string, unknown>,
    columns: SourceColumns,
    lookup: (row: unknown, which: 'after' | 'before') => ColumnLookup,
  ): SourceChange {
    const topic = this.source.topic;
    const { op, source } = envelope;
    if (typeof op !== 'string') {
      throw new FeaturelogError(
        'DEBEZIUM_ENVELOPE_INVALID',
        `a record of ${topic} has no "op": it is no Debezium change event (rows flattened by ExtractNewRecordState ` +
          `are read by format debezium-unwrapped)`,
      );
    }
    const committed = isObject(source) ? source.ts_ms : undefined;
    if (typeof committed !== 'number' || !Number.isSafeInteger(committed)) {
      throw new FeaturelogError(
        'DEBEZIUM_ENVELOPE_INVALID',
        `a Debezium ${op} event of ${topic} has no source.ts_ms (the commit time in the source database)`,
      );
    }
    const sourcePosition = debeziumPosition(source as Record<string, unknown>);
    const at = (change: SourceChange): SourceChange => {
      if (sourcePosition !== undefined) change.sourcePosition = sourcePosition;
      return change;
    };
    if (UPSERT_OPS.has(op)) {
      if (!isObject(envelope.after)) {
        throw new FeaturelogError(
          'DEBEZIUM_AFTER_MISSING',
          `a Debezium ${op} event of ${topic} has no "after": an upsert needs the row's new values`,
        );
      }
      return at({ op: 'upsert', row: columns.row(lookup(envelope.after, 'after'), committed * 1000) });
    }
    if (op === 'd') {
      if (!isObject(envelope.before)) {
        throw new FeaturelogError(
          'DEBEZIUM_BEFORE_MISSING',
          `a Debezium delete of ${topic} has no "before", so it names no entity`,
        );
      }
      const row = columns.deleteRow(lookup(envelope.before, 'before'), committed * 1000);
      const missing = columns.joinKeys.filter((key) => row[key] === null);
      if (missing.length > 0) {
        throw new FeaturelogError(
          'DEBEZIUM_DELETE_KEY_MISSING',
          `a Debezium delete of ${topic} has no ${missing.join(', ')} in "before" (a delete's "before" holds ` +
            `the primary key only, unless the table's replica identity is FULL)`,
        );
      }
      return at({ op: 'delete', row });
    }
    throw new FeaturelogError(
      'DEBEZIUM_OP_UNSUPPORTED',
      `a Debezium event of ${topic} has op "${op}"; a source of a view reads c, u, r and d`,
    );
  }
}

/**
 * A `debezium-unwrapped` source: rows flattened by Debezium's ExtractNewRecordState, in JsonConverter
 * with schemas or in Avro (see DebeziumFormat). The transform must add the operation and the commit
 * time (`add.fields=op,source.ts_ms`, so `__op` and `__source_ts_ms`) and rewrite deletes
 * (`delete.tombstone.handling.mode=rewrite`, so `__deleted`): a row with `__deleted` "true" (or `__op`
 * d) deletes its entity, at its event time (`timestampField`, by default `__source_ts_ms`). Source fields
 * added too (`add.fields=…,source.lsn`, or MySQL's `source.file,source.pos,source.row`, …) give the
 * change's source position, as in DebeziumFormat.
 *
 * A tombstone is refused (RECORD_VALUE_MISSING, dead-lettered with the reason): in the transform's
 * default mode a delete is ONLY a tombstone, which names no entity to the decoder and has no time of its
 * own, so skipping it would serve the deleted row's values on, silently.
 */
export class DebeziumUnwrappedFormat extends ConnectChangeFormat implements ViewRecordFormat {
  readonly tombstonesFollowDeletes = false;
  readonly tombstoneRefusal =
    'record has no value: a tombstone on a debezium-unwrapped source, whose deletes featurelog reads only ' +
    'when ExtractNewRecordState rewrites them (delete.tombstone.handling.mode=rewrite, add.fields=op,source.ts_ms)';

  protected rowRecord(schema: Record<string, unknown>): unknown {
    return schema;
  }

  decode(value: Uint8Array): SourceChange {
    if (isAvro(value)) {
      const { record, use: columns } = this.avroChanges.decode(value);
      return this.change(record as Record<string, unknown>, this.avro, avroLookup(record, columns));
    }
    const { schema, payload } = this.envelopes.read(value);
    return this.change(
      payload as Record<string, unknown>,
      this.json,
      connectStructLookup(schema, payload, this.source.topic),
    );
  }

  private change(record: Record<string, unknown>, columns: SourceColumns, lookup: ColumnLookup): SourceChange {
    const deleted = record.__deleted === 'true' || record.__deleted === true || record.__op === 'd';
    const sourcePosition = debeziumSourcePosition(unwrappedSourceFields(record));
    const position = sourcePosition === undefined ? {} : { sourcePosition };
    if (!deleted) return { op: 'upsert', row: columns.row(lookup), ...position };
    return { op: 'delete', row: columns.deleteRow(lookup, columns.eventTime(lookup)), ...position };
  }
}
