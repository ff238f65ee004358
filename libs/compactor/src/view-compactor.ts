import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { FeaturelogError } from '@featurelog/domain';
import { RowDecoder, type SchemaRegistryPort } from '@featurelog/avro';
import type { RecordBatch } from '@featurelog/log';
import { RestartFromCheckpoint, type StreamContext, type StreamRun } from '@featurelog/projection';
import {
  liveSegments,
  mergedSegmentId,
  mergeSegments,
  PartitionBuffer,
  planSegmentMerges,
  segmentCoverage,
  SegmentRowReader,
  sweepSegmentFiles,
  utcDate,
  writeDatedSegments,
  type MergePlan,
  type MergePlanOptions,
  type OfflineView,
  type SegmentCodec,
  type SegmentLog,
  type SegmentsMerged,
  type SegmentWritten,
} from '@featurelog/offline-store';
import type { UnreadableRecord } from '@featurelog/view-rows';

/** Test seams at the steps where a crash matters; a hook that throws fails the step like a crash would. */
export interface CompactorHooks {
  /** A segment file is in place and not yet announced. */
  segmentWritten?: (segment: SegmentWritten) => void | Promise<void>;
  /** Every segment of a flush is in place; the announcement comes next. */
  beforeAnnounce?: (segments: SegmentWritten[]) => void | Promise<void>;
  /** The segments are announced (durable). */
  segmentsAnnounced?: (segments: SegmentWritten[]) => void | Promise<void>;
  /** A merged file is in place and not yet announced. */
  mergeWritten?: (merge: SegmentsMerged) => void | Promise<void>;
  /** The merge is announced; the replaced files are still there. */
  mergeAnnounced?: (merge: SegmentsMerged) => void | Promise<void>;
}

export interface CompactorCounters {
  segmentsWritten: number;
  rowsWritten: number;
  bytesWritten: number;
  merges: number;
  segmentsMerged: number;
  unreadableRecords: number;
  restarts: number;
  filesDeleted: number;
}

export function zeroCounters(): CompactorCounters {
  return {
    segmentsWritten: 0,
    rowsWritten: 0,
    bytesWritten: 0,
    merges: 0,
    segmentsMerged: 0,
    unreadableRecords: 0,
    restarts: 0,
    filesDeleted: 0,
  };
}

export interface ViewCompactorSettings {
  maxRows: number;
  maxAgeMs: number;
  mergeIntervalMs: number;
  merge: MergePlanOptions;
  gcIntervalMs: number;
  orphanGraceMs: number;
  replacedGraceMs: number;
  rowGroupSize: number;
  initialRetryMs: number;
  maxRetryMs: number;
}

export interface ViewCompactorDeps {
  project: string;
  root: string;
  schemas: SchemaRegistryPort;
  segmentLog: SegmentLog;
  codec: SegmentCodec;
  settings: ViewCompactorSettings;
  hooks: CompactorHooks;
  counters: CompactorCounters;
}

/**
 * One run of the compaction of a view's feature topic into segments. A run starts from the segment log
 * alone: it folds `<project>.segments`, resumes every partition where its covered prefix ends, skips
 * offsets already in live segments, and buffers rows per partition until `maxRows` or `maxAgeMs`.
 * A flush writes one segment per date, then announces them; the announcement is the commit (the
 * checkpoint lives in the segment log). Any failure ends the run and drops its buffers; the runtime
 * opens the next one, which rebuilds them from the log.
 */
export class ViewCompactorRun implements StreamRun<OfflineView> {
  private buffers = new Map<number, PartitionBuffer>();
  private chain: Promise<unknown> = Promise.resolve();
  private ended = false;
  private lastMergeAt = Date.now();
  private lastSweepAt = Date.now();
  private readonly resume: Map<number, number>;
  private readonly live: ReturnType<typeof liveSegments>[number]['ranges'];

  private constructor(
    readonly view: OfflineView,
    private readonly deps: ViewCompactorDeps,
    private readonly context: StreamContext,
    private readonly reader: SegmentRowReader,
    private readonly decoder: RowDecoder,
    /** Merges refused for a schema change, by merged id: never tried again by this compactor. */
    private readonly unmergeable: Set<string>,
  ) {
    const catalog = deps.segmentLog.catalog;
    this.resume = new Map(
      segmentCoverage(catalog, view.key).partitions.map((p) => [p.partition, p.coveredUntil] as const),
    );
    this.live = liveSegments(catalog, view.key).flatMap((segment) => segment.ranges);
  }

  static async open(
    view: OfflineView,
    deps: ViewCompactorDeps,
    context: StreamContext,
    unmergeable: Set<string>,
  ): Promise<ViewCompactorRun> {
    await deps.segmentLog.catchUp();
    const reader = SegmentRowReader.open(view, deps.schemas, deps.project);
    const run = new ViewCompactorRun(view, deps, context, reader, new RowDecoder(deps.schemas), unmergeable);
    await run.sweep();
    return run;
  }

  startOffset(_topic: string, partition: number): number {
    return this.resume.get(partition) ?? 0;
  }

  checkpoint(_topic: string, partition: number): number {
    return (
      segmentCoverage(this.deps.segmentLog.catalog, this.view.key).partitions.find((p) => p.partition === partition)
        ?.coveredUntil ?? 0
    );
  }

  /** Next offset each partition's compaction will account for (the in-memory view; the log is the truth). */
  cursors(): Map<number, number> {
    return new Map([...this.buffers].map(([partition, buffer]) => [partition, buffer.cursor]));
  }

  handle(batch: RecordBatch): Promise<void> {
    return this.enqueue(() => this.accept(this.bufferFor(batch.partition), batch)).catch((error: unknown) => {
      // Never retried in place: the buffers this batch touched are gone; the next run reads it again.
      throw new RestartFromCheckpoint(error);
    });
  }

  /** Runs due flushes, merges and sweeps; called by the compactor's timer. */
  tick(now = Date.now()): void {
    void this.enqueue(async () => {
      const { maxAgeMs, mergeIntervalMs, gcIntervalMs } = this.deps.settings;
      for (const buffer of this.buffers.values()) {
        if (buffer.openedAt !== undefined && now - buffer.openedAt >= maxAgeMs) await this.flush(buffer);
      }
      if (now - this.lastMergeAt >= mergeIntervalMs) {
        this.lastMergeAt = now;
        await this.mergeSmallSegments();
      }
      if (now - this.lastSweepAt >= gcIntervalMs) {
        this.lastSweepAt = now;
        await this.sweep();
      }
    }).catch(() => undefined);
  }

  /** Flushes everything buffered now (tests, shutdown). */
  flushAll(): Promise<void> {
    return this.enqueue(async () => {
      for (const buffer of this.buffers.values()) await this.flush(buffer);
    });
  }

  /** Merges due small segments now. */
  mergeNow(): Promise<void> {
    return this.enqueue(() => this.mergeSmallSegments());
  }

  /**
   * Ends the run (the subscription is already stopped). With `flush`, what is buffered is written and
   * announced first; without, it is dropped (as a crash would) and simply read again by the next run.
   * A step already running (a flush announcing) ends before this returns: a closed run never writes
   * again, as a killed one would not, and the next run's catalog read sees its outcome.
   */
  async close({ flush }: { flush: boolean }): Promise<void> {
    if (flush && !this.ended) {
      await this.flushAll().catch((error: unknown) =>
        this.context.logger.warn(
          `view ${this.view.key}: final flush failed (${describe(error)}); the log still has the rows`,
        ),
      );
    }
    this.ended = true;
    await this.chain.catch(() => undefined);
  }

  private bufferFor(partition: number): PartitionBuffer {
    let buffer = this.buffers.get(partition);
    if (buffer === undefined) {
      buffer = new PartitionBuffer(partition, this.resume.get(partition) ?? 0, this.live);
      this.buffers.set(partition, buffer);
    }
    return buffer;
  }

  /** Runs `step` after the steps before it, unless the run has ended meanwhile. */
  private enqueue(step: () => Promise<void>): Promise<void> {
    const run = this.chain.then(() => {
      if (this.ended) {
        throw new FeaturelogError('COMPACTOR_GENERATION_ENDED', `view ${this.view.key}: compaction restarted`, {
          retriable: true,
        });
      }
      return step().catch((error: unknown) => {
        // Whatever failed (a batch, a flush, a merge), this run's buffers can no longer be trusted:
        // a drained buffer whose segments were not announced would leave a hole. Start over from the log.
        if (!this.ended) {
          this.ended = true;
          this.buffers = new Map();
          this.context.fail(error);
        }
        throw error;
      });
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async accept(buffer: PartitionBuffer, batch: RecordBatch): Promise<void> {
    const unreadable: UnreadableRecord[] = [];
    const rows = await this.reader.read(this.decoder, batch.records, unreadable);
    if (unreadable.length > 0) {
      // Poison is dead-lettered before its offset can be covered (announced): a crash in between reads it
      // again, and the DLQ, which knows this consumer's entries, does not take it twice.
      const byOffset = new Map(batch.records.map((record) => [record.offset, record]));
      await this.context.deadLetter(
        unreadable.map(({ offset, code, reason }) => ({
          record: byOffset.get(offset)!,
          error: new FeaturelogError(code, reason),
        })),
      );
    }
    const now = Date.now();
    for (const [i, record] of batch.records.entries()) {
      buffer.add(record.offset, rows[i]!, utcDate(record.timestamp * 1000), now);
      // Cut inside a batch too, so a segment never holds much more than maxRows however batches come.
      if (buffer.rowCount >= this.deps.settings.maxRows) await this.flush(buffer);
    }
    this.deps.counters.unreadableRecords += unreadable.length;
  }
  private async flush(buffer: PartitionBuffer): Promise<void> {
    if (buffer.isEmpty) return;
    const { codec, root, project, hooks, segmentLog, counters } = this.deps;
    const written = await writeDatedSegments(codec, {
      root,
      project,
      schema: this.reader.schema,
      inputs: buffer.drain(),
      rowGroupSize: this.deps.settings.rowGroupSize,
      ...(hooks.segmentWritten === undefined ? {} : { onWritten: hooks.segmentWritten }),
    });
    await hooks.beforeAnnounce?.(written);
    const applied = await segmentLog.announce(this.view.key, written);
    const refused = written.filter((_, i) => !applied[i]);
    if (refused.length > 0) {
      // Another writer covered these offsets first: our buffers are wrong, so start over from the log.
      throw new FeaturelogError(
        'COMPACTOR_ANNOUNCEMENT_REFUSED',
        `view ${this.view.key}: the segment catalog refused ${refused.map((s) => s.segmentId).join(', ')}`,
        { retriable: true },
      );
    }
    for (const segment of written) {
      counters.segmentsWritten++;
      counters.rowsWritten += segment.rowCount;
      counters.bytesWritten += segment.bytes;
    }
    await hooks.segmentsAnnounced?.(written);
  }

  private async mergeSmallSegments(): Promise<void> {
    const { codec, root, project, hooks, segmentLog, counters, settings } = this.deps;
    await segmentLog.catchUp();
    const plans = planSegmentMerges(segmentLog.catalog, this.view.key, settings.merge);
    for (const plan of plans) {
      const id = mergedSegmentId(plan);
      if (this.unmergeable.has(id)) continue;
      let merge: SegmentsMerged;
      try {
        merge = await mergeSegments(codec, { root, project, plan, segmentId: id, rowGroupSize: settings.rowGroupSize });
      } catch (error) {
        if (!(error instanceof FeaturelogError) || error.code !== 'SEGMENT_SCHEMA_MISMATCH') throw error;
        // Segments written before and after a definition change keep their own schemas.
        this.unmergeable.add(id);
        continue;
      }
      await hooks.mergeWritten?.(merge);
      const [applied] = await segmentLog.announce(this.view.key, [merge]);
      if (!applied) {
        throw new FeaturelogError(
          'COMPACTOR_ANNOUNCEMENT_REFUSED',
          `view ${this.view.key}: the segment catalog refused merge ${id}`,
          { retriable: true },
        );
      }
      counters.merges++;
      counters.segmentsMerged += plan.segments.length;
      await hooks.mergeAnnounced?.(merge);
      if (settings.replacedGraceMs <= 0) await this.deleteReplaced(plan);
    }
  }

  private async deleteReplaced(plan: MergePlan): Promise<void> {
    for (const segment of plan.segments) {
      await rm(join(this.deps.root, segment.path), { force: true });
      this.deps.counters.filesDeleted++;
    }
  }

  private async sweep(): Promise<void> {
    const { root, project, segmentLog, codec, settings, counters } = this.deps;
    const result = await sweepSegmentFiles({
      root,
      project,
      view: this.view.key,
      catalog: segmentLog.catalog,
      extension: codec.extension,
      replacedAt: (id) => segmentLog.replacedTime(id),
      replacedGraceMs: settings.replacedGraceMs,
      orphanGraceMs: settings.orphanGraceMs,
    });
    counters.filesDeleted += result.deletedOrphans.length + result.deletedReplaced.length;
    if (result.deletedOrphans.length > 0) {
      this.context.logger.log(`view ${this.view.key}: deleted unannounced files ${result.deletedOrphans.join(', ')}`);
    }
  }
}

function describe(error: unknown): string {
  return error instanceof FeaturelogError
    ? `${error.code}: ${error.message}`
    : error instanceof Error
      ? error.message
      : String(error);
}
