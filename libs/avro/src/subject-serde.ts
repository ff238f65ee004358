import type { AvroSchema } from './avro-type';
import { encodeRow, readerSchema, RowDecoder, type FeatureRow, type ReaderSchema } from './row-serde';
import type { SchemaRegistryPort } from './schema-registry.port';

/**
 * Records of one Avro schema under one subject, in the Confluent wire format: the schema is
 * registered on first use (again after a failed attempt), records are encoded with the id the
 * registry assigned, and decoded with their writer's schema resolved to this one. Featurelog's own
 * event topics (registry changesets, segment events) are written through it.
 */
export class SubjectSerde {
  private readonly decoder: RowDecoder;
  private readonly reader: ReaderSchema;
  private schemaId: Promise<number> | undefined;

  constructor(
    private readonly registry: SchemaRegistryPort,
    readonly subject: string,
    private readonly schema: AvroSchema,
  ) {
    this.decoder = new RowDecoder(registry);
    this.reader = readerSchema(schema);
  }

  /** The schema's id under the subject, registered on first use. */
  id(): Promise<number> {
    this.schemaId ??= this.registry.register(this.subject, this.schema).catch((error: unknown) => {
      this.schemaId = undefined;
      throw error;
    });
    return this.schemaId;
  }

  async encode(record: object): Promise<Buffer> {
    return encodeRow(await this.id(), this.reader.type, record as FeatureRow);
  }

  /** Throws the wire and Avro errors of RowDecoder (non-retriable). */
  decode(message: Uint8Array): Promise<unknown> {
    return this.decoder.decode(message, this.reader);
  }
}
