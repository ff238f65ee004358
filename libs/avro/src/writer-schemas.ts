import { FeaturelogError } from '@featurelog/domain';
import type { AvroSchema } from './avro-type';
import type { FeatureRow, ReaderSchema, RowDecoder, WriterSchemaSource } from './row-serde';
import { decodeEnvelope, wireSchemaId } from './wire-format';

/** What a reader of a topic makes of one writer schema: its reader, plus what it derives from it. */
export interface PreparedWriterSchema<T> {
  reader: ReaderSchema;
  use: T;
}

/**
 * The writer schemas of a topic's Confluent-wire-format records, loaded a batch at a time, so that
 * decoding stays synchronous. Each id is prepared once by `build`, which returns a FeaturelogError when
 * the schema cannot feed its reader (SOURCE_SCHEMA_UNUSABLE): that id's records are poison for good,
 * since an id never changes meaning. An id the registry does not know makes its records poison too, but
 * only until the next batch asks again; a registry that does not answer fails `prepare` (retriable).
 */
export class PreparedWriterSchemas<T> {
  private readonly prepared = new Map<number, PreparedWriterSchema<T>>();
  private readonly unusable = new Map<number, FeaturelogError>();
  /** Ids of the batch being prepared that the registry did not know: asked again with the next batch. */
  private unknown = new Map<number, FeaturelogError>();

  constructor(
    private readonly topic: string,
    private readonly decoder: RowDecoder,
    private readonly schemas: WriterSchemaSource,
    private readonly build: (id: number, schema: AvroSchema) => PreparedWriterSchema<T> | FeaturelogError,
  ) {}

  async prepare(values: Iterable<Uint8Array>): Promise<void> {
    const ids = new Set<number>();
    for (const value of values) {
      const id = wireSchemaId(value);
      if (id !== undefined && !this.prepared.has(id) && !this.unusable.has(id)) ids.add(id);
    }
    this.unknown = new Map();
    await Promise.all([...ids].map((id) => this.prepareId(id)));
  }

  private async prepareId(id: number): Promise<void> {
    let schema: AvroSchema;
    try {
      await this.decoder.load(id);
      schema = await this.schemas.getSchema(id);
    } catch (error) {
      // An unknown id is poison for its records; anything else (an outage) fails the batch.
      if (error instanceof FeaturelogError && !error.retriable) {
        this.unknown.set(id, error);
        return;
      }
      throw error;
    }
    const built = this.build(id, schema);
    if (built instanceof FeaturelogError) this.unusable.set(id, built);
    else this.prepared.set(id, built);
  }

  /** The record as its writer wrote it, and what `build` made of its schema; throws for a poison record. */
  decode(value: Uint8Array): { record: FeatureRow; use: T } {
    const id = wireSchemaId(value);
    if (id === undefined) decodeEnvelope(value); // throws the precise wire error
    const poison = this.unusable.get(id!) ?? this.unknown.get(id!);
    if (poison !== undefined) throw poison;
    const prepared = this.prepared.get(id!);
    if (prepared === undefined) {
      throw new FeaturelogError(
        'AVRO_WRITER_SCHEMA_NOT_LOADED',
        `writer schema ${id} of ${this.topic} was not prepared; call prepare first`,
      );
    }
    return { record: this.decoder.decodeLoaded(value, prepared.reader), use: prepared.use };
  }
}
