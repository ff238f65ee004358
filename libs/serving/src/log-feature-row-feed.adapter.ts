import { Logger } from '@nestjs/common';
import { FeaturelogError } from '@featurelog/domain';
import { RowDecoder, type WriterSchemaSource } from '@featurelog/avro';
import type { EventLog, LogRecord } from '@featurelog/log';
import { ViewProjection } from '@featurelog/materializer';
import type { OnlineStore } from '@featurelog/online-store';
import type { FeatureRowFeed, FeedListener, FeedRow } from './feature-row-feed.port';
import type { ServingView } from './serving-catalog';

/** The materializer's checkpoint in the online store, as it names it by default. */
export const materializerCheckpointName = (project: string): string => `${project}.materializer`;

/** Records a new follower may have to re-read because the materializer lags; more is refused (retriable). */
export const DEFAULT_MAX_CATCH_UP_RECORDS = 100_000;

export interface LogFeatureRowFeedOptions {
  log: EventLog;
  /** Where writer schemas come from (the schema registry port). */
  schemas: WriterSchemaSource;
  project: string;
  /** The online store the materializer writes, for its checkpoint. */
  store: Pick<OnlineStore, 'readCheckpoint'>;
  /** Name of the materializer's checkpoint (default materializerCheckpointName(project)). */
  materializerCheckpoint?: string;
  maxCatchUpRecords?: number;
}

interface Tail {
  topic: string;
  /** Decodes records for the view's current definition (the materializer's own decoding). */
  projection: ViewProjection;
  listeners: Set<FeedListener>;
  /**
   * Next offset per partition that reaches the listeners: it moves in the same turn as a batch is
   * handed to them, so a listener added now gets every record from these offsets on.
   */
  positions: Map<number, number>;
  ready: Promise<void>;
  /** `prepare` then `toRow` of a projection must not interleave with another batch's. */
  decoding: Promise<unknown>;
  controller: AbortController;
  stopped: boolean;
}

/**
 * One live tail per followed topic (EventLog.follow on every partition, no consumer group), shared
 * by every subscriber of its views. Records are decoded exactly as the materializer decodes them
 * (ViewProjection: managed row schemas by schema resolution, existing Kafka topics by their field
 * mapping), so a subscriber sees the rows the online store gets; a record the materializer would
 * dead-letter is skipped.
 *
 * No gap between snapshot and updates, whatever the materializer's lag: a new follower is first sent
 * the records from the materializer's checkpoint (what the online store holds) up to where the tail
 * stands, re-read from the log, then everything the tail delivers. A partition the checkpoint does
 * not name starts where the tail stands.
 */
export class LogFeatureRowFeed implements FeatureRowFeed {
  private readonly tails = new Map<string, Tail>();
  private readonly decoder: RowDecoder;
  private readonly checkpointName: string;
  private readonly maxCatchUpRecords: number;
  private readonly logger = new Logger('LogFeatureRowFeed');

  constructor(private readonly options: LogFeatureRowFeedOptions) {
    this.decoder = new RowDecoder(options.schemas);
    this.checkpointName = options.materializerCheckpoint ?? materializerCheckpointName(options.project);
    this.maxCatchUpRecords = options.maxCatchUpRecords ?? DEFAULT_MAX_CATCH_UP_RECORDS;
  }

  async follow(view: ServingView, listener: FeedListener): Promise<() => void> {
    const projection = this.projectionOf(view);
    let tail = this.tails.get(view.topic);
    if (tail === undefined) {
      tail = this.startTail(view.topic, projection);
      this.tails.set(view.topic, tail);
    } else if (!tail.projection.sameAs(projection)) {
      // A newer definition reads every older row (changes are backward compatible), so it takes over.
      tail.projection = projection;
    }
    const current = tail;
    await current.ready;
    if (current.stopped) {
      throw new FeaturelogError('FEED_FAILED', `following ${view.topic} stopped while starting`, { retriable: true });
    }
    const from = new Map(current.positions);
    current.listeners.add(listener);
    const unfollow = () => {
      current.listeners.delete(listener);
      if (current.listeners.size === 0) this.stopTail(current);
    };
    try {
      await this.catchUp(current, from, listener);
    } catch (error) {
      unfollow();
      throw error;
    }
    return unfollow;
  }

  async close(): Promise<void> {
    for (const tail of [...this.tails.values()]) this.stopTail(tail);
  }

  private projectionOf(view: ServingView): ViewProjection {
    const { project, schemas } = this.options;
    // Retention is the materializer's business: 0 leaves the rows' TTL unset.
    return new ViewProjection(view.definition, view.entities, view.source, project, this.decoder, schemas, 0);
  }

  private startTail(topic: string, projection: ViewProjection): Tail {
    const tail: Tail = {
      topic,
      projection,
      listeners: new Set(),
      positions: new Map(),
      ready: Promise.resolve(),
      decoding: Promise.resolve(),
      controller: new AbortController(),
      stopped: false,
    };
    tail.ready = (async () => {
      const ends = await this.options.log.endOffsets(topic);
      for (const [partition, end] of ends) {
        tail.positions.set(partition, end);
        this.runPartition(tail, partition, end).catch((error: unknown) => this.fail(tail, error));
      }
    })();
    tail.ready.catch((error: unknown) => this.fail(tail, error));
    return tail;
  }

  private async runPartition(tail: Tail, partition: number, from: number): Promise<void> {
    const { signal } = tail.controller;
    for await (const records of this.options.log.follow(tail.topic, partition, from, { signal })) {
      const rows = await this.decode(tail, records);
      if (tail.stopped) return;
      tail.positions.set(partition, records[records.length - 1]!.offset + 1);
      if (rows.length === 0) continue;
      for (const listener of tail.listeners) {
        try {
          listener.rows(rows);
        } catch (error) {
          this.logger.error(`subscription listener failed: ${(error as Error).stack ?? String(error)}`);
        }
      }
    }
  }

  /** Sends `listener` the records between the materializer's checkpoint and where the tail stood. */
  private async catchUp(tail: Tail, from: Map<number, number>, listener: FeedListener): Promise<void> {
    const stored = await this.options.store.readCheckpoint(this.checkpointName);
    const ranges: Array<{ partition: number; start: number; end: number }> = [];
    for (const { topic, partition, nextOffset } of stored) {
      const end = from.get(partition);
      if (topic === tail.topic && end !== undefined && nextOffset < end)
        ranges.push({ partition, start: nextOffset, end });
    }
    const behind = ranges.reduce((sum, range) => sum + range.end - range.start, 0);
    if (behind > this.maxCatchUpRecords) {
      throw new FeaturelogError(
        'MATERIALIZER_BEHIND',
        `the online store is ${behind} records behind ${tail.topic} (materializer checkpoint ${this.checkpointName}); ` +
          `a subscription re-reads at most maxCatchUpRecords = ${this.maxCatchUpRecords}: retry once the materializer catches up`,
        { retriable: true },
      );
    }
    for (const { partition, start, end } of ranges) {
      for await (const records of this.options.log.read(tail.topic, partition, start, { untilOffset: end })) {
        const rows = await this.decode(tail, records);
        if (rows.length > 0) listener.rows(rows);
      }
    }
  }

  private decode(tail: Tail, records: readonly LogRecord[]): Promise<FeedRow[]> {
    const run = tail.decoding.then(async () => {
      const projection = tail.projection;
      // A schema that cannot be fetched fails the tail, so its subscribers are told (and resnapshot)
      // rather than silently missing rows.
      await projection.prepare(records);
      const rows: FeedRow[] = [];
      for (const record of records) {
        try {
          const row = projection.toRow(record, this.options.project);
          rows.push({ view: row.view, entityKey: row.entityKey, version: row.version, row: row.features });
        } catch (error) {
          if (!(error instanceof FeaturelogError) || error.retriable) throw error;
          // The materializer sends such a record to the DLQ; subscribers never see it either.
          this.logger.warn(`skipping ${tail.topic}[${record.partition}]@${record.offset}: ${error.message}`);
        }
      }
      return rows;
    });
    tail.decoding = run.catch(() => undefined);
    return run;
  }

  private fail(tail: Tail, error: unknown): void {
    if (tail.stopped) return;
    this.stopTail(tail);
    const failure =
      error instanceof Error
        ? error
        : new FeaturelogError('FEED_FAILED', `following ${tail.topic} failed: ${String(error)}`, { retriable: true });
    for (const listener of tail.listeners) listener.failed(failure);
    tail.listeners.clear();
  }

  private stopTail(tail: Tail): void {
    if (this.tails.get(tail.topic) === tail) this.tails.delete(tail.topic);
    if (tail.stopped) return;
    tail.stopped = true;
    tail.controller.abort();
  }
}
