import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { encodeEntityKey, FeaturelogError, type FeatureValue } from '@featurelog/domain';
import { readerSchema, rowSchemaFor, RowDecoder, type ReaderSchema, type WriterSchemaSource } from '@featurelog/avro';
import type { EventLog, RecordBatch, Subscription } from '@featurelog/log';
import type { FeatureRowFeed, FeedListener, FeedRow } from './feature-row-feed.port';
import type { ServingView } from './serving-catalog';

export interface LogFeatureRowFeedOptions {
  log: EventLog;
  /** Where writer schemas come from (the schema registry port). */
  schemas: WriterSchemaSource;
  project: string;
  /** Consumer groups are `<prefix>.<topic>.<n>`; unique per process so no two serving instances share offsets. */
  groupIdPrefix?: string;
}

interface Tail {
  topic: string;
  view: ServingView;
  reader: ReaderSchema;
  listeners: Set<FeedListener>;
  /** Next offset per partition, so a consumer that restarts resumes where it stopped. */
  positions: Map<number, number>;
  ready: Promise<void>;
  subscription?: Subscription;
  stopped: boolean;
}

/**
 * One consumer per followed topic, shared by every subscriber of its views, starting at the
 * topic's end offsets as they were when the first subscriber came (no committed position is
 * ever used: each tail has its own group). Rows are Avro in the Confluent wire format, read with
 * the view's current row schema by schema resolution.
 */
export class LogFeatureRowFeed implements FeatureRowFeed {
  private readonly tails = new Map<string, Tail>();
  private readonly decoder: RowDecoder;
  private readonly groupIdPrefix: string;
  private readonly logger = new Logger('LogFeatureRowFeed');
  private started = 0;

  constructor(private readonly options: LogFeatureRowFeedOptions) {
    this.decoder = new RowDecoder(options.schemas);
    this.groupIdPrefix = options.groupIdPrefix ?? `featurelog-serving.${randomUUID()}`;
  }

  async follow(view: ServingView, listener: FeedListener): Promise<() => void> {
    let tail = this.tails.get(view.topic);
    if (tail === undefined) {
      tail = this.startTail(view);
      this.tails.set(view.topic, tail);
    } else if (tail.view.definition !== view.definition) {
      // A newer definition reads every older row (changes are backward compatible), so it takes over.
      const reader = readerFor(view, this.options.project);
      if (reader.fingerprint !== tail.reader.fingerprint) tail.reader = reader;
      tail.view = view;
    }
    const current = tail;
    current.listeners.add(listener);
    try {
      await current.ready;
    } catch (error) {
      current.listeners.delete(listener);
      throw error;
    }
    return () => {
      current.listeners.delete(listener);
      if (current.listeners.size === 0) void this.stopTail(current);
    };
  }

  async close(): Promise<void> {
    await Promise.all([...this.tails.values()].map((tail) => this.stopTail(tail)));
  }

  private startTail(view: ServingView): Tail {
    const tail: Tail = {
      topic: view.topic,
      view,
      reader: readerFor(view, this.options.project),
      listeners: new Set(),
      positions: new Map(),
      ready: Promise.resolve(),
      stopped: false,
    };
    tail.ready = (async () => {
      const { log } = this.options;
      const ends = await log.endOffsets(view.topic);
      tail.subscription = await log.subscribe({
        groupId: `${this.groupIdPrefix}.${view.topic}.${++this.started}`,
        topics: [view.topic],
        fromBeginning: false,
        startOffsets: (_topic, partition) => tail.positions.get(partition) ?? ends.get(partition) ?? 0,
        eachBatch: (batch) => this.deliver(tail, batch),
      });
      tail.subscription.done.then(
        () => undefined,
        (error: unknown) => this.fail(tail, error),
      );
      if (tail.stopped) await tail.subscription.stop();
    })();
    tail.ready.catch((error: unknown) => this.fail(tail, error));
    return tail;
  }

  private async deliver(tail: Tail, batch: RecordBatch): Promise<void> {
    const values = batch.records.flatMap((record) => (record.value === null ? [] : [record.value]));
    // A schema that cannot be fetched fails the tail, so its subscribers are told (and resnapshot)
    // rather than silently missing rows.
    await this.decoder.loadAll(values);
    const rows: FeedRow[] = [];
    const view = tail.view;
    for (const record of batch.records) {
      if (record.value === null) continue;
      try {
        const row = this.decoder.decodeLoaded(record.value, tail.reader) as Record<string, FeatureValue>;
        rows.push({
          view: view.name,
          entityKey: encodeEntityKey(view.joinKeys, row),
          version: {
            eventTimestamp: row.event_timestamp as number,
            createdTimestamp: (row.created_timestamp as number | null | undefined) ?? null,
            position: { partition: record.partition, offset: record.offset },
          },
          row,
        });
      } catch (error) {
        // The materializer sends such a row to the DLQ; subscribers just never see it.
        this.logger.warn(
          `skipping ${tail.topic}[${record.partition}]@${record.offset}: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    }
    const last = batch.records[batch.records.length - 1];
    if (last !== undefined) tail.positions.set(batch.partition, last.offset + 1);
    if (rows.length === 0) return;
    for (const listener of tail.listeners) {
      try {
        listener.rows(rows);
      } catch (error) {
        this.logger.error(`subscription listener failed: ${(error as Error).stack ?? String(error)}`);
      }
    }
  }

  private fail(tail: Tail, error: unknown): void {
    if (tail.stopped) return;
    tail.stopped = true;
    if (this.tails.get(tail.topic) === tail) this.tails.delete(tail.topic);
    const failure =
      error instanceof Error
        ? error
        : new FeaturelogError('FEED_FAILED', `following ${tail.topic} failed: ${String(error)}`, { retriable: true });
    for (const listener of tail.listeners) listener.failed(failure);
    tail.listeners.clear();
  }

  private async stopTail(tail: Tail): Promise<void> {
    if (this.tails.get(tail.topic) === tail) this.tails.delete(tail.topic);
    if (tail.stopped) return;
    tail.stopped = true;
    await tail.ready.catch(() => undefined);
    await tail.subscription?.stop();
  }
}

function readerFor(view: ServingView, project: string): ReaderSchema {
  return readerSchema(rowSchemaFor(view.definition, view.entities, project));
}
