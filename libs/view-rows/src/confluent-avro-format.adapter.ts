import {
  readerSchema,
  rowSchemaFor,
  SourceRecordDecoder,
  type ReaderSchema,
  type RowDecoder,
  type WriterSchemaSource,
} from '@featurelog/avro';
import { FeaturelogError } from '@featurelog/domain';
import { ConnectJsonFormat, PlainJsonFormat } from './connect-json-format.adapter';
import { DebeziumFormat, DebeziumUnwrappedFormat } from './debezium-format.adapter';
import type { SourceChange, ViewRecordFormat } from './record-format.port';
import type { ResolvedView } from './resolved-view';

/**
 * A managed topic: Confluent wire format with the view's own row schema. A record is decoded with its
 * writer schema (by the id in its wire header) resolved to the view's CURRENT row schema, so producers
 * still on an older, backward-compatible schema keep working, and resolution types every value.
 */
export class ManagedAvroFormat implements ViewRecordFormat {
  readonly typed = true;
  readonly tombstonesFollowDeletes = false;
  private readonly reader: ReaderSchema;

  constructor(
    view: ResolvedView,
    project: string,
    private readonly decoder: RowDecoder,
  ) {
    this.reader = readerSchema(rowSchemaFor(view.definition, view.entities, project));
  }

  prepare(values: readonly Uint8Array[]): Promise<void> {
    // An id the registry does not know makes its records poison (decodeLoaded throws), not the batch.
    return this.decoder.loadAll(values);
  }

  decode(value: Uint8Array): SourceChange {
    return { op: 'upsert', row: this.decoder.decodeLoaded(value, this.reader) };
  }
}

/**
 * An existing topic (data source kind `kafka`) in the Confluent wire format with the app's own Avro
 * schema: a record is decoded with its writer schema as is, then mapped by the source's field mapping
 * and timestamp fields (SourceRecordDecoder, sourceRowMapper). Nothing typed its values as the view's.
 */
export class SourceAvroFormat implements ViewRecordFormat {
  readonly typed = false;
  readonly tombstonesFollowDeletes = false;
  private readonly records: SourceRecordDecoder;

  constructor(
    view: ResolvedView & { source: NonNullable<ResolvedView['source']> },
    decoder: RowDecoder,
    schemas: WriterSchemaSource,
  ) {
    this.records = new SourceRecordDecoder(view.source, view.definition, view.entities, decoder, schemas);
  }

  prepare(values: readonly Uint8Array[]): Promise<void> {
    return this.records.prepare(values);
  }

  decode(value: Uint8Array): SourceChange {
    return { op: 'upsert', row: this.records.decode(value) };
  }
}

/**
 * The format of the records a view reads: the one place that picks a decoder per data-source format
 * (the `kafka` source's `format`, absent being `avro`; a managed topic is the view's own Avro).
 * `decoder` holds the writer schemas already fetched (share it to fetch each once); `schemas` is where a
 * kafka source's writer schemas come from for its field mapping.
 */
export function recordFormatFor(
  view: ResolvedView,
  project: string,
  decoder: RowDecoder,
  schemas: WriterSchemaSource,
): ViewRecordFormat {
  const { source } = view;
  if (source === undefined) return new ManagedAvroFormat(view, project, decoder);
  const format = source.format ?? 'avro';
  switch (format) {
    case 'avro':
      return new SourceAvroFormat({ ...view, source }, decoder, schemas);
    case 'connect-json':
      return new ConnectJsonFormat(source, view.definition, view.entities);
    case 'json':
      return new PlainJsonFormat(source, view.definition, view.entities);
    case 'debezium':
      return new DebeziumFormat(source, view.definition, view.entities, decoder, schemas);
    case 'debezium-unwrapped':
      return new DebeziumUnwrappedFormat(source, view.definition, view.entities, decoder, schemas);
    default:
      // Validation refuses other formats; a registry written by a newer featurelog may still hold one.
      throw new FeaturelogError(
        'SOURCE_FORMAT_UNKNOWN',
        `data source "${source.name}" has format "${String(format)}", which this featurelog cannot read`,
      );
  }
}
