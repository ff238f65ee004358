import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { FeaturelogError } from '@featurelog/domain';
import { RowDecoder, type SchemaRegistryPort } from '@featurelog/avro';
import type { DeadLetterWriter, EventLog, RecordBatch, Subscription } from '@featurelog/log';
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

export interface CompactorLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
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
  log: EventLog;
  schemas: SchemaRegistryPort;
  segmentLog: SegmentLog;
  /** The project's DLQ as the compactor writes it: each poison record once, whatever the restarts. */
  deadLetters: DeadLetterWriter;
  codec: SegmentCodec;
  groupId: string;
  settings: ViewCompactorSettings;
  hooks: CompactorHooks;
  counters: CompactorCounters;
  logger: CompactorLogger;
}

export type ViewCompactorState = 'starting' | 'running' | 'retrying' | 'stopped';

/**
 * Compacts one view's feature topic into segments. Each run ("generation") starts from the segment log
 * alone: it folds `<project>.segments`, resumes every partition where its covered prefix ends, skips
 * offsets already in live segments, and buffers rows per partition until `maxRows` or `maxAgeMs`.
 * A flush writes one segment per date, then announces them; the announcement is the commit.
 * Any failure ends the generation and drops its buffers; the next one rebuilds them from the log.
 */
export class ViewCompactor {
  state: ViewCompactorState = 'starting';
  lastError: unknown;
  private generation = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private buffers = new Map<number, PartitionBuffer>();
  private reader: SegmentRowReader | undefined;
  private decoder: RowDecoder;
  private subscription: Subscription | undefined;
  private failGeneration: ((error: unknown) => void) | undefined;
  private stopping = false;
  private wake: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private lastMergeAt = Date.now();
  private lastSweepAt = Date.now();
  private readonly unmergeable = new Set<string>();

  constructor(
    readonly view: OfflineView,
    private readonly deps: ViewCompactorDeps,
  ) {
    this.decoder = new RowDecoder(deps.schemas);
  }

  start(): void {
    this.running ??= this.loop();
  }

  /** Next offset each partition's compaction will account for (the in-memory view; the log is the truth). */
  cursors(): Map<number, number> {
    return new Map([...this.buffers].map(([partition, buffer]) => [partition, buffer.cursor]));
  }

  /** Runs due flushes, merges and sweeps; called by the compactor's timer. */
  tick(now = Date.now()): void {
    if (this.state !== 'running') return;
    const generation = this.generation;
    void this.enqueue(generation, async () => {
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
    return this.enqueue(this.generation, async () => {
      for (const buffer of this.buffers.values()) await this.flush(buffer);
    });
  }

  /** Merges due small segments now. */
  mergeNow(): Promise<void> {
    return this.enqueue(this.generation, () => this.mergeSmallSegments());
  }

  /**
   * Stops consuming. With `flush`, what is buffered is written and announced first; without, it is
   * dropped (as a crash would) and simply read again by the next compactor.
   */
  async stop({ flush = true }: { flush?: boolean } = {}): Promise<void> {
    this.stopping = true;
    this.wake?.();
    if (flush && this.state === 'running') {
      await this.subscription?.stop().catch(() => undefined);
      await this.flushAll().catch((error: unknown) =>
        this.deps.logger.warn(
          `view ${this.view.key}: final flush failed (${describe(error)}); the log still has the rows`,
        ),
      );
    }
    // Nothing queued runs any more, and a step already running (a flush announcing) ends before stop returns:
    // a stopped compactor never writes again, as a killed one would not.
    this.generation++;
    this.failGeneration?.(new StopRequested());
    await this.running;
    await this.chain;
    this.state = 'stopped';
  }

  private async loop(): Promise<void> {
    for (let attempt = 0; !this.stopping;) {
      try {
        await this.runGeneration();
        attempt = 0;
      } catch (error) {
        if (this.stopping || error instanceof StopRequested) break;
        attempt++;
        this.deps.counters.restarts++;
        this.state = 'retrying';
        this.lastError = error;
        const { initialRetryMs, maxRetryMs } = this.deps.settings;
        const delayMs = Math.min(maxRetryMs, initialRetryMs * 2 ** (attempt - 1));
        this.deps.logger.warn(
          `view ${this.view.key}: compaction failed (${describe(error)}); restarting from the segment log in ${delayMs} ms`,
        );
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delayMs);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    }
  }

  private async runGeneration(): Promise<void> {
    // A step of the previous generation may still be writing or announcing: the catalog read below, and the
    // sweep, must see its outcome (the sweep would otherwise delete a file that is announced a moment later).
    await this.chain;
    this.buffers = new Map();
    const generation = ++this.generation;
    this.state = 'starting';
    const { segmentLog, log, schemas, project } = this.deps;
    await segmentLog.catchUp();
    this.reader = SegmentRowReader.open(this.view, schemas, project);
    await this.enqueue(generation, () => this.sweep());
    const catalog = segmentLog.catalog;
    const resume = new Map(
      segmentCoverage(catalog, this.view.key).partitions.map((p) => [p.partition, p.coveredUntil] as const),
    );
    const live = liveSegments(catalog, this.view.key).flatMap((segment) => segment.ranges);
    this.buffers = new Map();
    const bufferFor = (partition: number) => {
      let buffer = this.buffers.get(partition);
      if (buffer === undefined) {
        buffer = new PartitionBuffer(partition, resume.get(partition) ?? 0, live);
        this.buffers.set(partition, buffer);
      }
      return buffer;
    };

    const failed = new Promise<never>((_, reject) => (this.failGeneration = reject));
    failed.catch(() => undefined);
    if (this.stopping) return;
    this.subscription = await log.subscribe({
      groupId: this.deps.groupId,
      topics: [this.view.topic],
      fromBeginning: true,
      startOffsets: (_topic, partition) => resume.get(partition) ?? 0,
      eachBatch: (batch) => this.enqueue(generation, () => this.accept(bufferFor(batch.partition), batch)),
    });
    this.state = 'running';
    this.lastError = undefined;
    try {
      await Promise.race([this.subscription.done, failed]);
    } finally {
      // Steps still queued belong to buffers that are now dropped (a stop flushes before this).
      if (!this.stopping) this.generation++;
      await this.subscription.stop().catch(() => undefined);
    }
  }

  /** Runs `step` after the steps before it, unless its generation has ended meanwhile. */
  private enqueue(generation: number, step: () => Promise<void>): Promise<void> {
    const run = this.chain.then(() => {
      if (generation !== this.generation) {
        throw new FeaturelogError('COMPACTOR_GENERATION_ENDED', `view ${this.view.key}: compaction restarted`, {
          retriable: true,
        });
      }
      return step().catch((error: unknown) => {
        // Whatever failed (a batch, a flush, a merge), this generation's buffers can no longer be trusted:
        // a drained buffer whose segments were not announced would leave a hole. Start over from the log.
        if (generation === this.generation) {
          this.generation++;
          this.buffers = new Map();
          this.failGeneration?.(error);
        }
        throw error;
      });
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async accept(buffer: PartitionBuffer, batch: RecordBatch): Promise<void> {
    const unreadable: UnreadableRecord[] = [];
    const rows = await this.reader!.read(this.decoder, batch.records, unreadable);
    if (unreadable.length > 0) {
      // Poison is dead-lettered before its offset can be covered (announced): a crash in between reads it
      // again, and the DLQ, which knows this consumer's entries, does not take it twice.
      const byOffset = new Map(batch.records.map((record) => [record.offset, record]));
      await this.deps.deadLetters.send(
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
    for (const record of unreadable) {
      this.deps.counters.unreadableRecords++;
      this.deps.logger.warn(
        `view ${this.view.key}: ${this.view.topic}[${record.partition}]@${record.offset} skipped and dead-lettered: ${record.code}: ${record.reason}`,
      );
    }
  }

  private async flush(buffer: PartitionBuffer): Promise<void> {
    if (buffer.isEmpty) return;
    const { codec, root, project, hooks, segmentLog, counters } = this.deps;
    const written = await writeDatedSegments(codec, {
      root,
      project,
      schema: this.reader!.schema,
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
      this.deps.logger.log(`view ${this.view.key}: deleted unannounced files ${result.deletedOrphans.join(', ')}`);
    }
  }
}

class StopRequested extends Error {}

function describe(error: unknown): string {
  return error instanceof FeaturelogError
    ? `${error.code}: ${error.message}`
    : error instanceof Error
      ? error.message
      : String(error);
}
