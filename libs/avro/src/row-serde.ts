import type { Resolver, Type } from 'avsc';
import { FeaturelogError, type FeatureValue } from '@featurelog/domain';
import { avroType, schemaFingerprint, type AvroSchema, type AvroTypeOptions } from './avro-type';
import { assertSchemaId, decodeEnvelope, WIRE_HEADER_LENGTH, WIRE_MAGIC_BYTE } from './wire-format';

/** A feature row in memory: field name → value in the domain's representation (see FeatureValue). */
export type FeatureRow = Record<string, FeatureValue>;

/** A schema rows are read as (the view's current row schema), parsed once, identified by fingerprint. */
export interface ReaderSchema {
  readonly schema: AvroSchema;
  readonly type: Type;
  /** schemaFingerprint(schema): resolvers are cached per (writer schema id, this). */
  readonly fingerprint: string;
}

export function readerSchema(schema: AvroSchema, options: AvroTypeOptions = {}): ReaderSchema {
  return { schema, type: avroType(schema, options), fingerprint: schemaFingerprint(schema) };
}

/** Where writer schemas come from: the schema registry port satisfies it. */
export interface WriterSchemaSource {
  getSchema(id: number): Promise<AvroSchema>;
}

/** Encoding scratch space, grown on demand: rows are framed with one allocation and one copy. */
let scratch = Buffer.allocUnsafe(64 * 1024);

/**
 * Encodes a row with `type` and frames it in the Confluent wire format under `schemaId`.
 * Missing nullable fields take their default (null). Bytes may be any Uint8Array.
 * Throws AVRO_ENCODE_FAILED naming the first field whose value does not fit its type.
 */
export function encodeRow(schemaId: number, type: Type, row: FeatureRow): Buffer {
  assertSchemaId(schemaId);
  const value = withBuffers(type, row);
  for (;;) {
    let end: number;
    try {
      end = type.encode(value, scratch, WIRE_HEADER_LENGTH);
    } catch (error) {
      throw new FeaturelogError(
        'AVRO_ENCODE_FAILED',
        `cannot encode row for schema id ${schemaId}: ${invalidFields(type, value) ?? (error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    if (end < 0) {
      // avsc reports the missing room as a negative position.
      scratch = Buffer.allocUnsafe(Math.max(scratch.length * 2, WIRE_HEADER_LENGTH - end));
      continue;
    }
    const framed = Buffer.from(scratch.subarray(0, end));
    framed[0] = WIRE_MAGIC_BYTE;
    framed.writeUInt32BE(schemaId, 1);
    return framed;
  }
}

function invalidFields(type: Type, value: unknown): string | undefined {
  const problems: string[] = [];
  type.isValid(value, {
    errorHook: (path, found, expected) => {
      problems.push(
        `field '${path.join('.')}' has ${describeValue(found)}, which is not a valid ${JSON.stringify(expected.schema())}`,
      );
    },
  });
  return problems.length > 0 ? problems.join('; ') : undefined;
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'no value';
  if (typeof value === 'string')
    return `string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (value instanceof Uint8Array) return `${value.length} byte(s)`;
  if (typeof value === 'bigint') return `bigint ${value}`;
  return `${typeof value} ${JSON.stringify(value)}`;
}

const bytesFieldsByType = new WeakMap<Type, string[]>();

/** avsc insists on Buffer for bytes; the domain allows any Uint8Array, so wrap them (no copy). */
function withBuffers(type: Type, row: FeatureRow): FeatureRow {
  let bytesFields = bytesFieldsByType.get(type);
  if (bytesFields === undefined) {
    const fields = (type as Type & { fields?: { name: string; type: Type }[] }).fields ?? [];
    bytesFields = fields
      .filter((field) => JSON.stringify(field.type.schema()).includes('"bytes"'))
      .map((field) => field.name);
    bytesFieldsByType.set(type, bytesFields);
  }
  let copy: FeatureRow | undefined;
  for (const name of bytesFields) {
    const value = row[name];
    const wrapped = asBuffers(value);
    if (wrapped !== value && wrapped !== undefined) {
      copy ??= { ...row };
      copy[name] = wrapped;
    }
  }
  return copy ?? row;
}

function asBuffers(value: FeatureValue | undefined): FeatureValue | undefined {
  if (value instanceof Uint8Array && !Buffer.isBuffer(value))
    return Buffer.from(value.buffer, value.byteOffset, value.length);
  if (Array.isArray(value) && value.some((item) => item instanceof Uint8Array && !Buffer.isBuffer(item)))
    return value.map(asBuffers) as FeatureValue[];
  return value;
}

/**
 * Decodes framed rows written with any registered schema into the shape of a reader schema, by
 * Avro schema resolution (new fields get their defaults, removed ones are skipped, int → long
 * promotes). Writer schemas are fetched once per id; resolvers are built once per
 * (writer id, reader fingerprint) — and skipped when writer and reader are the same schema.
 *
 * `decode` is the convenient form; `decodeLoaded` is the hot path, synchronous once `load` (or
 * `loadAll` for a batch) has fetched the writer schemas of the messages it will see.
 */
export class RowDecoder {
  private readonly writerTypes = new Map<number, { schema: AvroSchema; type: Type; fingerprint: string }>();
  private readonly pending = new Map<number, Promise<void>>();
  /**
   * Writer ids the registry refused for good (SCHEMA_NOT_FOUND) when last asked by loadAll: the records
   * that carry one are poison, each on its own (decodeLoaded throws this error for them). Asked again by
   * the next loadAll that meets the id, so a schema registered meanwhile is picked up.
   */
  private readonly unknown = new Map<number, FeaturelogError>();
  /**
   * Per reader fingerprint, per writer id: null when writer and reader are the same schema (read
   * directly), the error when they cannot be resolved (so it is not rebuilt for every message).
   */
  private readonly resolvers = new Map<string, Map<number, Resolver | null | FeaturelogError>>();

  constructor(private readonly writerSchemas: WriterSchemaSource) {}

  async decode(message: Uint8Array, reader: ReaderSchema): Promise<FeatureRow> {
    const { schemaId } = decodeEnvelope(message);
    if (!this.writerTypes.has(schemaId)) await this.load(schemaId);
    return this.decodeLoaded(message, reader);
  }

  /** Fetches the writer schema of `schemaId` unless already known. Concurrent calls share one fetch. */
  load(schemaId: number): Promise<void> {
    if (this.writerTypes.has(schemaId)) return Promise.resolve();
    let pending = this.pending.get(schemaId);
    if (pending === undefined) {
      pending = this.writerSchemas
        .getSchema(schemaId)
        .then((schema) => {
          this.writerTypes.set(schemaId, { schema, type: avroType(schema), fingerprint: schemaFingerprint(schema) });
        })
        .finally(() => this.pending.delete(schemaId));
      this.pending.set(schemaId, pending);
    }
    return pending;
  }

  /**
   * Loads the writer schemas of a batch of framed messages. Only a registry that cannot answer (a
   * retriable error) fails the batch: an id it does not know makes only the records that carry it
   * poison, as malformed frames are, and decodeLoaded reports each of them on its own. One poison
   * record must not stop a consumer or a replay (a compactor restarting for good on it, an export
   * failing for good while it sits in the log tail).
   */
  async loadAll(messages: Iterable<Uint8Array>): Promise<void> {
    const ids = new Set<number>();
    for (const message of messages) {
      if (message.length >= WIRE_HEADER_LENGTH && message[0] === WIRE_MAGIC_BYTE) {
        const id = ((message[1]! << 24) >>> 0) + (message[2]! << 16) + (message[3]! << 8) + message[4]!;
        if (!this.writerTypes.has(id)) ids.add(id);
      }
    }
    await Promise.all(
      [...ids].map((id) =>
        this.load(id).then(
          () => this.unknown.delete(id),
          (error: unknown) => {
            if (!(error instanceof FeaturelogError) || error.retriable) throw error;
            this.unknown.set(id, error);
          },
        ),
      ),
    );
  }

  /**
   * Decodes a framed row whose writer schema is loaded. Throws WIRE_TRUNCATED, WIRE_BAD_MAGIC,
   * SCHEMA_NOT_FOUND (loadAll found no such writer schema), AVRO_WRITER_SCHEMA_NOT_LOADED (call load
   * first), AVRO_SCHEMA_UNRESOLVABLE or AVRO_DECODE_FAILED; all but AVRO_WRITER_SCHEMA_NOT_LOADED are
   * non-retriable: the record is poison.
   */
  decodeLoaded(message: Uint8Array, reader: ReaderSchema): FeatureRow {
    if (message.length < WIRE_HEADER_LENGTH || message[0] !== WIRE_MAGIC_BYTE) decodeEnvelope(message); // throws the precise error
    const schemaId = ((message[1]! << 24) >>> 0) + (message[2]! << 16) + (message[3]! << 8) + message[4]!;
    const resolver = this.resolverFor(schemaId, reader);
    const buffer = Buffer.isBuffer(message) ? message : Buffer.from(message.buffer, message.byteOffset, message.length);
    let decoded: { value: unknown; offset: number };
    try {
      decoded = reader.type.decode(buffer, WIRE_HEADER_LENGTH, resolver ?? undefined);
    } catch (error) {
      throw this.decodeFailed(schemaId, (error as Error).message, error);
    }
    if (decoded.offset !== buffer.length) {
      throw this.decodeFailed(
        schemaId,
        decoded.offset < 0 ? 'truncated body' : `${buffer.length - decoded.offset} byte(s) of trailing data`,
      );
    }
    return decoded.value as FeatureRow;
  }

  /** A consumer reads one view with one reader, mostly one writer: remember the last pair. */
  private last: { reader: ReaderSchema; schemaId: number; resolver: Resolver | null } | undefined;

  private resolverFor(schemaId: number, reader: ReaderSchema): Resolver | null {
    const last = this.last;
    if (last !== undefined && last.reader === reader && last.schemaId === schemaId) return last.resolver;
    const writer = this.writerTypes.get(schemaId);
    if (writer === undefined) {
      const unknown = this.unknown.get(schemaId);
      if (unknown !== undefined) throw unknown;
      throw new FeaturelogError(
        'AVRO_WRITER_SCHEMA_NOT_LOADED',
        `writer schema id ${schemaId} is not loaded; await load(${schemaId}) first`,
        {
          retriable: true,
        },
      );
    }
    let byWriter = this.resolvers.get(reader.fingerprint);
    if (byWriter === undefined) {
      byWriter = new Map();
      this.resolvers.set(reader.fingerprint, byWriter);
    }
    let resolver = byWriter.get(schemaId);
    if (resolver === undefined) {
      resolver = this.resolve(schemaId, writer, reader);
      byWriter.set(schemaId, resolver);
    }
    if (resolver instanceof FeaturelogError) throw resolver;
    this.last = { reader, schemaId, resolver };
    return resolver;
  }

  private decodeFailed(schemaId: number, reason: string, cause?: unknown): FeaturelogError {
    return new FeaturelogError(
      'AVRO_DECODE_FAILED',
      `cannot decode Avro body written with schema id ${schemaId}: ${reason}`,
      { cause },
    );
  }

  private resolve(
    schemaId: number,
    writer: { type: Type; fingerprint: string },
    reader: ReaderSchema,
  ): Resolver | null | FeaturelogError {
    if (writer.fingerprint === reader.fingerprint) return null;
    try {
      return reader.type.createResolver(writer.type);
    } catch (error) {
      return new FeaturelogError(
        'AVRO_SCHEMA_UNRESOLVABLE',
        `data written with schema id ${schemaId} cannot be read as ${reader.type.name ?? 'the reader schema'}: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }
}
