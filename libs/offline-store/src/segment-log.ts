import { FeaturelogError, topicNames } from '@featurelog/domain';
import type { EventLog, TopicSpec } from '@featurelog/log';
import {
  evolveSegmentCatalogInPlace,
  initialSegmentCatalog,
  type MutableSegmentCatalog,
  type SegmentCatalog,
} from './segment-catalog';
import type { SegmentEvent } from './segment-events';
import type { SegmentEventSerde } from './segment-event-serde';

export interface SegmentLogOptions {
  log: EventLog;
  serde: SegmentEventSerde;
  project: string;
  /** Created on first announcement if missing (the registry creates it on the first apply anyway). */
  topicSpec?: TopicSpec;
  /** Records read per batch while catching up. */
  maxBatch?: number;
}

/**
 * The segment catalog as the fold of `<project>.segments` (one partition), and the only way segments are
 * announced. The compactor derives where to resume from this fold, never from consumer-group offsets:
 * announcing a segment is what commits its offsets.
 *
 * An event that cannot be decoded stops the fold (SEGMENT_LOG_UNREADABLE): a catalog with a hole could
 * make the compactor cover offsets twice, and an export miss rows.
 */
export class SegmentLog {
  readonly topic: string;
  /** Folded in place (see evolveSegmentCatalogInPlace): this log owns its catalog. */
  private readonly current: MutableSegmentCatalog = initialSegmentCatalog();
  private nextOffset = 0;
  /** segment id → when the merge that replaced it was written (epoch µs), for the deletion grace period. */
  private readonly replacedAt = new Map<string, number>();
  private folding: Promise<void> = Promise.resolve();
  private topicEnsured = false;

  constructor(private readonly options: SegmentLogOptions) {
    this.topic = topicNames.segments(options.project);
  }

  /**
   * The catalog as folded so far. It is the fold's own state, not a snapshot: it moves on at the next
   * catch-up, so read what you need from it before awaiting anything that may announce or catch up.
   */
  get catalog(): SegmentCatalog {
    return this.current;
  }

  /** Offset of the next segment event to fold. */
  get position(): number {
    return this.nextOffset;
  }

  replacedTime(segmentId: string): number | undefined {
    return this.replacedAt.get(segmentId);
  }

  /** Folds every event appended before the call. Concurrent calls share the read. */
  catchUp(): Promise<void> {
    const run = this.folding.then(() => this.readToEnd());
    this.folding = run.catch(() => undefined);
    return run;
  }

  /**
   * Appends the events (durable once resolved), then folds the log up to them. Returns, per event, whether
   * the fold applied it; an event is refused when it would double-count offsets (see evolveSegmentCatalogInPlace).
   */
  async announce(view: string, events: SegmentEvent[]): Promise<boolean[]> {
    if (events.length === 0) return [];
    await this.ensureTopic();
    const values = await Promise.all(events.map((event) => this.options.serde.encode(event)));
    const key = Buffer.from(view);
    await this.options.log.append(
      this.topic,
      values.map((value) => ({ key, value, partition: 0 })),
    );
    await this.catchUp();
    return events.map((event) => {
      const id = event.type === 'SegmentWritten' ? event.segmentId : event.mergedInto.segmentId;
      return this.current.live.get(view)?.get(id) !== undefined;
    });
  }

  private async ensureTopic(): Promise<void> {
    if (this.topicEnsured || this.options.topicSpec === undefined) return;
    await this.options.log.ensureTopic(this.options.topicSpec);
    this.topicEnsured = true;
  }

  private async readToEnd(): Promise<void> {
    const { log, serde, maxBatch = 5_000 } = this.options;
    if ((await log.describeTopic(this.topic)) === undefined) return;
    const end = (await log.endOffsets(this.topic)).get(0) ?? 0;
    if (this.nextOffset >= end) return;
    for await (const records of log.read(this.topic, 0, this.nextOffset, { untilOffset: end, maxBatch })) {
      for (const record of records) {
        if (record.offset < this.nextOffset) continue;
        let event: SegmentEvent;
        try {
          if (record.value === null) throw new FeaturelogError('SEGMENT_EVENT_EMPTY', 'the record has no value');
          event = await serde.decode(record.value);
        } catch (error) {
          throw new FeaturelogError(
            'SEGMENT_LOG_UNREADABLE',
            `${this.topic}@${record.offset} cannot be decoded, so the segment catalog cannot be trusted: ${(error as Error).message}`,
            { cause: error, retriable: error instanceof FeaturelogError ? error.retriable : true },
          );
        }
        evolveSegmentCatalogInPlace(this.current, event);
        if (
          event.type === 'SegmentsMerged' &&
          this.current.live.get(event.mergedInto.view)?.has(event.mergedInto.segmentId)
        ) {
          for (const id of event.replaced) this.replacedAt.set(id, event.mergedInto.writtenAt);
        }
        this.nextOffset = record.offset + 1;
      }
    }
  }
}
