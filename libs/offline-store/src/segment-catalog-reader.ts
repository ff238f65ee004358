import { FeaturelogError, topicNames } from '@featurelog/domain';
import type { SchemaRegistryPort } from '@featurelog/avro';
import { SegmentEventSerde } from './segment-event-serde';
import type { EventLog } from '@featurelog/log';
import { evolveSegmentCatalogInPlace, initialSegmentCatalog, type SegmentCatalog } from './segment-catalog';
import type { SegmentEvent } from './segment-events';

/** How the bytes of a `<project>.segments` record become an event; the compactor owns the encoding. */
export type SegmentEventDecoder = (value: Buffer) => SegmentEvent | Promise<SegmentEvent>;

/** The compactor's encoding of `<project>.segments`: Avro (Confluent wire format) under `<project>.segments-value`. */
export function avroSegmentEventDecoder(schemas: SchemaRegistryPort, project: string): SegmentEventDecoder {
  const serde = new SegmentEventSerde(schemas, project);
  return (value) => serde.decode(value);
}

/** Segment events as plain JSON, for benches that announce hand-made segments without a schema registry. */
export const jsonSegmentEventDecoder: SegmentEventDecoder = (value) =>
  JSON.parse(value.toString('utf8')) as SegmentEvent;

/**
 * Folds `<project>.segments` up to its current end into the catalog of live segments. A project that
 * never compacted has no such topic (or an empty one): every view's history is then all log tail.
 */
export async function readSegmentCatalog(
  log: EventLog,
  project: string,
  decode: SegmentEventDecoder,
): Promise<SegmentCatalog> {
  const topic = topicNames.segments(project);
  const catalog = initialSegmentCatalog();
  if ((await log.describeTopic(topic)) === undefined) return catalog;
  for (const [partition, end] of await log.endOffsets(topic)) {
    if (end === 0) continue;
    for await (const records of log.read(topic, partition, 0, { untilOffset: end })) {
      for (const record of records) {
        if (record.value === null) continue;
        let event: SegmentEvent;
        try {
          event = await decode(record.value);
        } catch (error) {
          throw new FeaturelogError(
            'SEGMENT_EVENT_UNREADABLE',
            `${topic}[${partition}]@${record.offset} is not a segment event: ${(error as Error).message}`,
            { cause: error },
          );
        }
        // Folded as read: the catalog is all that is kept, never the events.
        evolveSegmentCatalogInPlace(catalog, event);
      }
    }
  }
  return catalog;
}
