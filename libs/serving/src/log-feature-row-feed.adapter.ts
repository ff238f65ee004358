import { Logger } from '@nestjs/common';
import { FeaturelogError } from '@featurelog/domain';
import { RowDecoder, type WriterSchemaSource } from '@featurelog/avro';
import type { EventLog, LogRecord } from '@featurelog/log';
import { resolvedView, rowVersion, ViewRowDecoder } from '@featurelog/view-rows';
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
  /** Decodes records for the view's current definition (the decoder the materializer shares). */
  rows: ViewRowDecoder;
  listeners: Set<FeedListener>;
  /** Follows still catching up: the tail runs for them although it has no listener yet. */
  starting: number;
  /**
   * Next offset per partition that reaches the listeners: it moves in the same turn as a batch is
   * handed to them, so a listener added now gets every record from these offsets on.
   */
  positions: Map<number, number>;
  ready: Promise<void>;
  /** `prepare` then `decode` of a batch must not interleave with another batch's. */
  decoding: Promise<unknown>;
  controller: AbortController;
  stopped: boolean;
}

/**
 * One live tail per followed topic (EventLog.follow on every partition, no consumer group), shared
 * by every subscriber of its views. Records are decoded by the decoder the materializer decodes them
 * with (ViewRowDecoder: managed row schemas by schema resolution, existing Kafka topics by their field
 * mapping), so a subscriber sees the rows the online store gets; a record the materializer would
 * dead-letter is skipped.
 *
 * No gap between snapshot and updates, whatever the materializer's lag: a new follower is first sent
 * the records from the materializer's checkpoint (what the online store holds) up to where the tail
 * stands, re-read from the log, then everything the tail delivers. A partition the checkpoint does
 * not name starts where the tail stands. A resuming follower is sent the records from its own
 * position instead. Either way each record once, in log order per partition, with where the
 * follower stands after it (the subscription's event ids).
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

  async follow(view: ServingView, listener: FeedListener, from?: ReadonlyMap<number, number>): Promise<() => void> {
    const rows = this.rowsOf(view);
    let tail = this.tails.get(view.topic);
    if (tail === undefined) {
      tail = this.startTail(view.topic, rows);
      this.tails.set(view.topic, tail);
    } else if (!tail.rows.sameAs(rows)) {
      // A newer definition reads every older row (changes are backward compatible), so it takes over.
      tail.rows = rows;
    }
    const current = tail;
    // Held by this follow while it catches up, so the tail is not stopped under it.
    current.starting++;
    try {
      await current.ready;
      if (current.stopped) {
        throw new FeaturelogError('FEED_FAILED', `following ${view.topic} stopped while starting`, { retriable: true });
      }
      const cursor = from === undefined ? await this.checkpointStart(current) : await this.resumeStart(current, from);
      let wrapped: FeedListener = listener;
      await this.catchUp(current, cursor, listener, from !== undefined, () => {
        // Caught up with the tail in this very turn: from its next batch on, the listener gets them.
        wrapped = aheadFilter(listener, cursor, current.positions);
        current.listeners.add(wrapped);
        for (const [partition, next] of current.positions) {
          listener.rows([], {
            topic: current.topic,
            partition,
            nextOffset: Math.max(next, cursor.get(partition) ?? 0),
          });
        }
      });
      return () => {
        current.listeners.delete(wrapped);
        if (current.listeners.size === 0 && current.starting === 0) this.stopTail(current);
      };
    } finally {
      current.starting--;
      if (current.listeners.size === 0 && current.starting === 0) this.stopTail(current);
    }
  }

  async close(): Promise<void> {
    for (const tail of [...this.tails.values()]) this.stopTail(tail);
  }

  private rowsOf(view: ServingView): ViewRowDecoder {
    const { project, schemas } = this.options;
    const resolved = resolvedView(project, view.definition, view.entities, view.source);
    return new ViewRowDecoder(resolved, project, this.decoder, schemas);
  }

  private startTail(topic: string, rows: ViewRowDecoder): Tail {
    const tail: Tail = {
      topic,
      rows,
      listeners: new Set(),
      starting: 0,
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
      const nextOffset = records[records.length - 1]!.offset + 1;
      tail.positions.set(partition, nextOffset);
      for (const listener of tail.listeners) {
        try {
          listener.rows(rows, { topic: tail.topic, partition, nextOffset });
        } catch (error) {
          this.logger.error(`subscription listener failed: ${(error as Error).stack ?? String(error)}`);
        }
      }
    }
  }

  /** Where a new follower starts: the materializer's checkpoint where it is behind the tail, else the tail. */
  private async checkpointStart(tail: Tail): Promise<Map<number, number>> {
    const cursor = new Map(tail.positions);
    const stored = await this.options.store.readCheckpoint(this.checkpointName);
    for (const { topic, partition, nextOffset } of stored) {
      const end = cursor.get(partition);
      if (topic === tail.topic && end !== undefined && nextOffset < end) cursor.set(partition, nextOffset);
    }
    return cursor;
  }

  /** Checks a resume position against the topic: every partition of it, none past the log's end. */
  private async resumeStart(tail: Tail, from: ReadonlyMap<number, number>): Promise<Map<number, number>> {
    const unavailable = (reason: string) =>
      new FeaturelogError(
        'RESUME_POSITION_UNAVAILABLE',
        `cannot resume ${tail.topic} from ${describePosition(from)}: ${reason}`,
      );
    const partitions = [...tail.positions.keys()].sort((a, b) => a - b);
    const named = [...from.keys()].sort((a, b) => a - b);
    if (partitions.join(',') !== named.join(',')) {
      throw unavailable(
        `the topic has partitions ${partitions.join(', ')}, the position names ${named.join(', ') || 'none'}`,
      );
    }
    const ends = await this.options.log.endOffsets(tail.topic);
    for (const [partition, offset] of from) {
      const end = ends.get(partition) ?? 0;
      if (!Number.isSafeInteger(offset) || offset < 0 || offset > end) {
        throw unavailable(`partition ${partition} ends at ${end}, the position is ${offset}`);
      }
    }
    return new Map(from);
  }

  /**
   * Sends `listener` the records from `cursor` up to where the tail stands, in log order per
   * partition, again until the tail has not moved meanwhile, and then, in that same turn (before the
   * tail can hand out another batch), calls `attach`.
   */
  private async catchUp(
    tail: Tail,
    cursor: Map<number, number>,
    listener: FeedListener,
    resuming: boolean,
    attach: () => void,
  ): Promise<void> {
    let behind = 0;
    for (const [partition, next] of tail.positions) behind += Math.max(0, next - (cursor.get(partition) ?? next));
    if (behind > this.maxCatchUpRecords) {
      if (resuming) {
        throw new FeaturelogError(
          'RESUME_POSITION_UNAVAILABLE',
          `the position is ${behind} records behind ${tail.topic}; a subscription re-reads at most maxCatchUpRecords = ${this.maxCatchUpRecords}`,
        );
      }
      throw new FeaturelogError(
        'MATERIALIZER_BEHIND',
        `the online store is ${behind} records behind ${tail.topic} (materializer checkpoint ${this.checkpointName}); ` +
          `a subscription re-reads at most maxCatchUpRecords = ${this.maxCatchUpRecords}: retry once the materializer catches up`,
        { retriable: true },
      );
    }
    for (;;) {
      let moved = false;
      for (const [partition, end] of [...tail.positions]) {
        const start = cursor.get(partition) ?? end;
        if (start >= end) continue;
        moved = true;
        for await (const records of this.options.log.read(tail.topic, partition, start, { untilOffset: end })) {
          const rows = await this.decode(tail, records);
          const nextOffset = records[records.length - 1]!.offset + 1;
          cursor.set(partition, nextOffset);
          listener.rows(rows, { topic: tail.topic, partition, nextOffset });
        }
        cursor.set(partition, Math.max(cursor.get(partition) ?? end, end));
      }
      if (tail.stopped) {
        throw new FeaturelogError('FEED_FAILED', `following ${tail.topic} stopped while catching up`, {
          retriable: true,
        });
      }
      if (!moved) {
        attach();
        return;
      }
    }
  }

  private decode(tail: Tail, records: readonly LogRecord[]): Promise<FeedRow[]> {
    const run = tail.decoding.then(async () => {
      const decoder = tail.rows;
      // A schema that cannot be fetched fails the tail, so its subscribers are told (and resnapshot)
      // rather than silently missing rows.
      await decoder.prepare(records);
      const rows: FeedRow[] = [];
      for (const record of records) {
        try {
          const change = decoder.decodeChange(record.value);
          // The tombstone after a Debezium delete says nothing of its own.
          if (change.op === 'tombstone') continue;
          // A delete goes out as a deleted row with the delete's version, so that a subscriber learns the
          // view is absent for the entity (as the online store then reads it) and an older row cannot
          // bring the values back.
          const { row } = change;
          const feedRow: FeedRow = {
            view: decoder.view.definition.name,
            entityKey: decoder.entityKey(row),
            version: rowVersion(row, record, change.sourcePosition),
            row: row.features,
          };
          if (change.op === 'delete') feedRow.deleted = true;
          rows.push(feedRow);
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

/**
 * A resumed follower may stand ahead of the tail in a partition (another server's tail was ahead):
 * rows it already had are not handed to it again.
 */
function aheadFilter(
  listener: FeedListener,
  cursor: ReadonlyMap<number, number>,
  tail: ReadonlyMap<number, number>,
): FeedListener {
  const ahead = [...cursor].filter(([partition, offset]) => offset > (tail.get(partition) ?? 0));
  if (ahead.length === 0) return listener;
  const from = new Map(ahead);
  return {
    rows: (rows, position) => {
      const kept = rows.filter((row) => row.version.position.offset >= (from.get(row.version.position.partition) ?? 0));
      const next =
        position === undefined ? undefined : Math.max(position.nextOffset, from.get(position.partition) ?? 0);
      listener.rows(kept, position === undefined ? undefined : { ...position, nextOffset: next! });
    },
    failed: (error) => listener.failed(error),
  };
}

function describePosition(position: ReadonlyMap<number, number>): string {
  return [...position].map(([partition, offset]) => `${partition}@${offset}`).join(', ') || 'no partition';
}
