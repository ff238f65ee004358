import { FeaturelogError, topicNames, valueSubject } from '@featurelog/domain';
import { SubjectSerde, type SchemaRegistryPort } from '@featurelog/avro';
import type { SegmentEvent, SegmentWritten } from './segment-events';

const TIMESTAMP_MICROS = { type: 'long', logicalType: 'timestamp-micros' } as const;

/**
 * One record for both events: `replaced` is empty for SEGMENT_WRITTEN, and `segment` is the merged
 * segment of SEGMENTS_MERGED. A flat record (no union of records) keeps the schema easy to read
 * from any language and easy to evolve: new fields come with defaults.
 */
export const SEGMENT_EVENT_SCHEMA = {
  type: 'record',
  name: 'SegmentEvent',
  namespace: 'featurelog.segments',
  doc: 'An event of <project>.segments: a segment written, or segments merged into one.',
  fields: [
    { name: 'type', type: { type: 'enum', name: 'SegmentEventType', symbols: ['SEGMENT_WRITTEN', 'SEGMENTS_MERGED'] } },
    {
      name: 'segment',
      type: {
        type: 'record',
        name: 'Segment',
        fields: [
          { name: 'segmentId', type: 'string' },
          { name: 'view', type: 'string' },
          { name: 'path', type: 'string', doc: 'Relative to the offline root.' },
          { name: 'date', type: 'string', doc: 'YYYY-MM-DD (UTC) of every row in the segment.' },
          {
            name: 'ranges',
            doc: 'Half-open offset ranges of the feature topic this segment accounts for.',
            type: {
              type: 'array',
              items: {
                type: 'record',
                name: 'OffsetRange',
                fields: [
                  { name: 'partition', type: 'int' },
                  { name: 'fromOffset', type: 'long' },
                  { name: 'untilOffset', type: 'long' },
                ],
              },
            },
          },
          { name: 'minEventTime', type: ['null', TIMESTAMP_MICROS], default: null },
          { name: 'maxEventTime', type: ['null', TIMESTAMP_MICROS], default: null },
          { name: 'rowCount', type: 'long' },
          { name: 'checksum', type: 'string', doc: 'Lower-case hex SHA-256 of the whole file.' },
          { name: 'bytes', type: 'long' },
          { name: 'writtenAt', type: TIMESTAMP_MICROS },
        ],
      },
    },
    { name: 'replaced', type: { type: 'array', items: 'string' }, default: [] },
  ],
} as const;

/** `<project>.segments-value`. */
export const segmentEventSubject = (project: string): string => valueSubject(topicNames.segments(project));

interface AvroSegmentEvent {
  type: 'SEGMENT_WRITTEN' | 'SEGMENTS_MERGED';
  segment: Omit<SegmentWritten, 'type'>;
  replaced: string[];
}

/**
 * Avro serde of segment events under `<project>.segments-value` (Confluent wire format), registered on
 * first use; decoding resolves any registered version of the schema to the current one.
 */
export class SegmentEventSerde {
  private readonly serde: SubjectSerde;

  constructor(registry: SchemaRegistryPort, project: string) {
    this.serde = new SubjectSerde(registry, segmentEventSubject(project), SEGMENT_EVENT_SCHEMA);
  }

  id(): Promise<number> {
    return this.serde.id();
  }

  async encode(event: SegmentEvent): Promise<Buffer> {
    const written = event.type === 'SegmentWritten' ? event : event.mergedInto;
    const { type: _type, ...segment } = written;
    const avro: AvroSegmentEvent = {
      type: event.type === 'SegmentWritten' ? 'SEGMENT_WRITTEN' : 'SEGMENTS_MERGED',
      segment,
      replaced: event.type === 'SegmentsMerged' ? event.replaced : [],
    };
    return this.serde.encode(avro);
  }

  /** Throws the wire/Avro errors of RowDecoder (non-retriable) or SEGMENT_EVENT_MALFORMED. */
  async decode(message: Uint8Array): Promise<SegmentEvent> {
    const avro = (await this.serde.decode(message)) as AvroSegmentEvent;
    const segment: SegmentWritten = {
      type: 'SegmentWritten',
      ...avro.segment,
      ranges: avro.segment.ranges.map((r) => ({ ...r })),
    };
    if (avro.type === 'SEGMENT_WRITTEN') {
      if (avro.replaced.length > 0) {
        throw new FeaturelogError(
          'SEGMENT_EVENT_MALFORMED',
          `SEGMENT_WRITTEN ${segment.segmentId} lists replaced segments`,
        );
      }
      return segment;
    }
    return { type: 'SegmentsMerged', mergedInto: segment, replaced: [...avro.replaced] };
  }
}
