import {
  compareRowVersions,
  FeaturelogError,
  pushDestinationOf,
  PUSH_TO_HEADER,
  topicNames,
  type FeatureViewDefinition,
  type RegistryState,
} from '@featurelog/domain';
import type { PoisonedRecord, RecordBatch } from '@featurelog/log';
import type { OnlineRow, TopicPartitionOffset } from '@featurelog/online-store';
import type { SpecChange, StreamContext, StreamRun } from '@featurelog/projection';
import type { MaterializerOptions, MaterializerSettings } from './materializer-options';
import { retriable, type ViewProjection } from './view-projection';

/**
 * The checkpoint entry that says "this checkpoint is whole". It is written alone, before any row,
 * each time the materializer starts consuming from offset 0; offsets merge into the same hash later
 * but never re-create it. A checkpoint without it was wiped (FLUSHALL, eviction, a new Redis) even if
 * batches written since the wipe have put some offsets back, so its offsets cannot be trusted.
 */
export const CHECKPOINT_MARKER_TOPIC = '__featurelog.materializer.complete';

type OffsetsByTopic = Map<string, Map<number, number>>;
/** Topic → projection of the online view it feeds. */
export type OnlineViews = Map<string, ViewProjection>;

/** One run of the materializer: from the stored checkpoint, the online views' batches into the store. */
export class OnlineRun implements StreamRun<OnlineViews> {
  /** Next offsets as stored in the checkpoint when each topic started being consumed. */
  private startOffsets: OffsetsByTopic = new Map();
  /** Next offsets written with the latest batches. */
  private readonly written: OffsetsByTopic = new Map();

  constructor(
    private readonly options: MaterializerOptions,
    private readonly settings: MaterializerSettings,
    readonly context: StreamContext,
    private views: OnlineViews,
  ) {}

  /**
   * Reads the checkpoint; a checkpoint without its marker was wiped and is rebuilt from offset 0, and
   * topics with stored offsets that no view reads any more are retired.
   */
  async restoreCheckpoint(afterWipe: boolean, state: RegistryState): Promise<void> {
    const { store } = this.options;
    const { checkpointName } = this.settings;
    const stored = await store.readCheckpoint(checkpointName);
    const complete = stored.some((entry) => entry.topic === CHECKPOINT_MARKER_TOPIC);
    let offsets = byTopic(stored.filter((entry) => entry.topic !== CHECKPOINT_MARKER_TOPIC));
    if (!complete) {
      if (stored.length > 0 && !afterWipe) {
        this.context.logger.warn(`checkpoint ${checkpointName} was wiped: rebuilding the online store from offset 0`);
        this.options.metrics?.rebuilds.inc({ reason: 'checkpoint-incomplete' });
      }
      offsets = new Map();
      // Offsets that batches wrote since the wipe cover rows written since, not the rows it lost:
      // forgotten, or (checkpoints only move forward) they would outlive a crash during the rebuild.
      await store.deleteCheckpoint(checkpointName);
      await store.writeBatch({
        rows: [],
        checkpoint: {
          consumer: checkpointName,
          offsets: [{ topic: CHECKPOINT_MARKER_TOPIC, partition: 0, nextOffset: Date.now() }],
        },
      });
    }
    await this.retireStaleTopics(offsets, state);
    await this.rebuildRecreatedTopics(offsets);
    this.startOffsets = offsets;
  }

  startOffset(topic: string, partition: number): number {
    return this.startOffsets.get(topic)?.get(partition) ?? 0;
  }

  checkpoint(topic: string, partition: number): number {
    return Math.max(this.written.get(topic)?.get(partition) ?? 0, this.startOffset(topic, partition));
  }

  /**
   * The stored checkpoint as a later read found it (the wipe check, every second). Other members of
   * the group write it too: a partition this member is given later starts from there, rather than
   * from what was stored when this run began (replaying all the others consumed since), and the lag
   * of partitions that other members consume follows their progress.
   */
  observeStored(stored: readonly TopicPartitionOffset[]): void {
    for (const { topic, partition, nextOffset } of stored) {
      if (!this.views.has(topic)) continue;
      let partitions = this.startOffsets.get(topic);
      if (partitions === undefined) {
        partitions = new Map();
        this.startOffsets.set(topic, partitions);
      }
      if (nextOffset > (partitions.get(partition) ?? 0)) partitions.set(partition, nextOffset);
    }
  }

  async update({ spec, added, removed }: SpecChange<OnlineViews>): Promise<void> {
    const retired = removed.map((topic) => ({ topic, view: this.views.get(topic)!.view.name }));
    this.views = spec.unit;
    for (const { topic, view } of retired) {
      this.context.logger.log(`view "${view}" is no longer materialized from ${topic}: removing its values`);
      await this.options.store.deleteView(this.options.project, view);
      await this.resetOffsets([topic]);
    }
    if (added.length === 0) return;
    const stored = byTopic(await this.options.store.readCheckpoint(this.settings.checkpointName));
    for (const topic of added) this.startOffsets.set(topic, stored.get(topic) ?? new Map());
  }

  async close(): Promise<void> {}

  /**
   * A topic with stored offsets that no online view reads any more (its view was deleted, or moved to
   * a new version, while the materializer was down or before its values were removed): the view's
   * values are removed and its offsets reset, and a view of that name that reads another topic now is
   * rebuilt from that topic's start.
   */
  private async retireStaleTopics(offsets: OffsetsByTopic, state: RegistryState): Promise<void> {
    const stale = [...offsets].filter(
      ([topic, partitions]) => !this.views.has(topic) && [...partitions.values()].some((offset) => offset > 0),
    );
    for (const [topic] of stale) {
      const name = viewThatRead(state, this.options.project, topic);
      const reset = [topic];
      if (name !== undefined) {
        this.context.logger.log(`view "${name}" no longer reads ${topic}: removing its values`);
        await this.options.store.deleteView(this.options.project, name);
        const current = [...this.views.values()].find((projection) => projection.view.name === name);
        if (current !== undefined) reset.push(current.topic);
      }
      await this.resetOffsets(reset);
      reset.forEach((resetTopic) => offsets.delete(resetTopic));
    }
  }

  /**
   * A stored offset past its partition's end: the topic was deleted and created again (or the log
   * replaced) since it was written, so its offsets and its view's values belong to records that are
   * gone. The view's values are removed and the topic is consumed from offset 0 again. The offsets
   * are deleted: a checkpoint only moves forward, so the rebuild's lower offsets would not replace
   * them, and after a crash it would resume past rows never written.
   */
  private async rebuildRecreatedTopics(offsets: OffsetsByTopic): Promise<void> {
    for (const [topic, partitions] of [...offsets]) {
      const projection = this.views.get(topic);
      if (projection === undefined) continue;
      const ends = await this.options.log.endOffsets(topic);
      const past = [...partitions].find(([partition, next]) => next > (ends.get(partition) ?? 0));
      if (past === undefined) continue;
      const [partition, next] = past;
      const name = projection.view.name;
      this.context.logger.warn(
        `checkpoint ${this.settings.checkpointName} is past the end of ${topic} (partition ${partition}: ` +
          `${next} > ${ends.get(partition) ?? 0}): the topic was created again; rebuilding view "${name}" from offset 0`,
      );
      this.options.metrics?.rebuilds.inc({ reason: 'topic-recreated' });
      await this.options.store.deleteView(this.options.project, name);
      await this.resetOffsets([topic]);
      offsets.delete(topic);
    }
  }

  /** Forgets the stored offsets of these topics: deleted, not written as 0, since checkpoints only move forward. */
  private async resetOffsets(topics: string[]): Promise<void> {
    for (const topic of topics) {
      this.written.delete(topic);
      this.startOffsets.delete(topic);
    }
    if (topics.length === 0) return;
    await this.options.store.deleteCheckpoint(this.settings.checkpointName, topics);
  }

  // ---- the hot path -------------------------------------------------------------------------

  async handle(batch: RecordBatch): Promise<void> {
    const projection = this.views.get(batch.topic);
    if (projection === undefined) return;
    const { project } = this.options;
    await projection.prepare(batch.records);
    // Rows go out in chunks, pipelined and without offsets, as soon as each is decoded: decoding
    // and Redis overlap. Only once all are stored does the last write carry the checkpoint.
    // Within a chunk only the last-write-wins winner of each entity is sent: exact, since the store
    // keeps the greatest version of a total order whatever else it is shown.
    const max = this.settings.maxRowsPerWrite;
    const earlier: Promise<void>[] = [];
    let chunk: OnlineRow[] = [];
    let chunkIndex = new Map<string, number>();
    let superseded = 0;
    const poisoned: PoisonedRecord[] = [];
    let offlineOnly = 0;
    for (const record of batch.records) {
      // Pushed with `to: offline`: in the log for the offline store, not for this one.
      if (pushDestinationOf(record.headers[PUSH_TO_HEADER]) === 'offline') {
        offlineOnly++;
        continue;
      }
      let row: OnlineRow | null;
      try {
        row = projection.toRow(record, project);
      } catch (error) {
        if (error instanceof FeaturelogError) {
          if (error.retriable) {
            await Promise.allSettled(earlier);
            throw error;
          }
          poisoned.push({ record, error });
        } else {
          const reason = error instanceof Error ? error.message : String(error);
          poisoned.push({ record, error: new FeaturelogError('RECORD_UNREADABLE', reason, { cause: error }) });
        }
        continue;
      }
      // The tombstone after a delete: nothing to write, its offset is covered by the checkpoint.
      if (row === null) continue;
      const seen = chunkIndex.get(row.entityKey);
      if (seen === undefined) {
        chunkIndex.set(row.entityKey, chunk.length);
        chunk.push(row);
      } else {
        if (compareRowVersions(row.version, chunk[seen]!.version) > 0) chunk[seen] = row;
        superseded++;
      }
      if (chunk.length >= max) {
        earlier.push(this.write(projection, chunk, batch, undefined, superseded));
        chunk = [];
        chunkIndex = new Map();
        superseded = 0;
        // A fetch may hold tens of thousands of records: decoding them all in one go would keep /health and
        // /metrics waiting for seconds while a backlog is caught up (an orchestrator then kills the process).
        // setImmediate, not a timer: it lets pending I/O run and costs nothing when there is none.
        await yieldToEventLoop();
      }
    }
    if (offlineOnly > 0)
      this.options.metrics?.rows.inc({ view: projection.view.name, outcome: 'offline_only' }, offlineOnly);
    const settled = await Promise.allSettled(earlier);
    const failed = settled.find((outcome) => outcome.status === 'rejected');
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
    const end = batch.records[batch.records.length - 1]!.offset + 1;
    // Offsets never move past a record not yet in the DLQ: after a crash it is dead-lettered again.
    const stopAt = poisoned[0]?.record.offset ?? end;
    if (chunk.length > 0 || stopAt > batch.records[0]!.offset) {
      await this.write(projection, chunk, batch, stopAt, superseded);
    }
    if (poisoned.length === 0) return;
    await this.context.deadLetter(poisoned);
    await this.write(projection, [], batch, end);
  }

  private async write(
    projection: ViewProjection,
    rows: OnlineRow[],
    { topic, partition }: { topic: string; partition: number },
    nextOffset: number | undefined,
    /** Rows of the chunk left out because a later row of the same entity beat them. */
    superseded = 0,
  ): Promise<void> {
    const started = performance.now();
    let won: number;
    try {
      won = await this.options.store.writeBatch(
        nextOffset === undefined
          ? { rows }
          : {
              rows,
              checkpoint: { consumer: this.settings.checkpointName, offsets: [{ topic, partition, nextOffset }] },
            },
      );
    } catch (error) {
      // Rows are built by the projection; a store refusal is about the store, never the record.
      throw retriable(error, `writing ${rows.length} row(s) of ${topic}/${partition} to the online store`);
    }
    if (nextOffset !== undefined) this.recordWritten(topic, partition, nextOffset);
    const metrics = this.options.metrics;
    if (metrics === undefined || rows.length === 0) return;
    const view = projection.view.name;
    metrics.batchSeconds.observe((performance.now() - started) / 1_000);
    metrics.rows.inc({ view, outcome: 'won' }, won);
    if (rows.length + superseded > won) metrics.rows.inc({ view, outcome: 'lost' }, rows.length + superseded - won);
    metrics.observeFreshness(
      view,
      rows.map((row) => row.version.eventTimestamp),
      Date.now() * 1_000,
    );
  }

  private recordWritten(topic: string, partition: number, nextOffset: number): void {
    let partitions = this.written.get(topic);
    if (partitions === undefined) {
      partitions = new Map();
      this.written.set(topic, partitions);
    }
    partitions.set(partition, nextOffset);
  }
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

function byTopic(entries: readonly TopicPartitionOffset[]): OffsetsByTopic {
  const offsets: OffsetsByTopic = new Map();
  for (const { topic, partition, nextOffset } of entries) {
    let partitions = offsets.get(topic);
    if (partitions === undefined) {
      partitions = new Map();
      offsets.set(topic, partitions);
    }
    partitions.set(partition, nextOffset);
  }
  return offsets;
}

/** The view (current or deleted) whose managed topic, or Kafka source, is `topic`. */
function viewThatRead(state: RegistryState, project: string, topic: string): string | undefined {
  for (const object of Object.values(state.objects)) {
    if (object.kind !== 'feature_view') continue;
    for (const version of object.history) {
      const view = version.definition as FeatureViewDefinition | undefined;
      if (view === undefined) continue;
      if (topicNames.features(project, view) === topic) return view.name;
      const source = view.source === undefined ? undefined : state.objects[`data_source/${view.source}`];
      const sourceTopics = (source?.history ?? []).map(
        (entry) => (entry.definition as { topic?: string } | undefined)?.topic,
      );
      if (sourceTopics.includes(topic)) return view.name;
    }
  }
  return undefined;
}
