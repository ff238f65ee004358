import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { SchemaRegistryPort } from '@featurelog/avro';
import { DeadLetterWriter, type EventLog, type TopicSpec } from '@featurelog/log';
import { topicNames } from '@featurelog/domain';
import {
  HyparquetSegmentCodec,
  offlineViews,
  segmentCoverage,
  SegmentEventSerde,
  SegmentLog,
  type MergePlanOptions,
  type OfflineView,
  type SegmentCodec,
} from '@featurelog/offline-store';
import type { RegistryFollower } from '@featurelog/registry';
import {
  ViewCompactor,
  zeroCounters,
  type CompactorCounters,
  type CompactorHooks,
  type CompactorLogger,
  type ViewCompactorState,
} from './view-compactor';

/** Every tunable of the compactor with its default; options override them one by one. */
export const COMPACTOR_DEFAULTS = {
  maxRows: 200_000,
  maxAgeMs: 30_000,
  tickMs: 1_000,
  mergeIntervalMs: 60_000,
  gcIntervalMs: 60_000,
  orphanGraceMs: 10 * 60_000,
  replacedGraceMs: 5 * 60_000,
  rowGroupSize: 65_536,
  initialRetryMs: 100,
  maxRetryMs: 5_000,
} as const;

export interface CompactorOptions {
  project: string;
  log: EventLog;
  schemas: SchemaRegistryPort;
  /** Started (or at least caught up) by the caller; the compactor follows its changes. */
  follower: RegistryFollower;
  /** The offline root: segments go to `<root>/<project>/<view>/date=YYYY-MM-DD/<segment-id>.parquet`. */
  offlineRoot: string;
  /** `<project>.segments`, created on first announcement if the registry has not created it yet. */
  segmentsTopicSpec?: TopicSpec;
  /** `<project>.dlq`, created on the first dead letter if the registry has not created it yet. */
  dlqTopicSpec?: TopicSpec;
  codec?: SegmentCodec;
  /**
   * Consumer group prefix. Only used to receive partitions: positions always come from the segment log,
   * so the default is unique per process (a restarted compactor never waits for its dead predecessor's
   * session to expire).
   */
  groupId?: string;
  /** A partition's buffer is flushed into segments at this many rows… */
  maxRows?: number;
  /** …or when its oldest buffered offset is this old. */
  maxAgeMs?: number;
  /** How often buffers are checked against maxAgeMs. */
  tickMs?: number;
  /** How often small segments are looked for and merged. */
  mergeIntervalMs?: number;
  merge?: MergePlanOptions;
  /** How often files that are not live segments are looked for. */
  gcIntervalMs?: number;
  /** An unannounced file younger than this may belong to a write in progress elsewhere, so it is kept. */
  orphanGraceMs?: number;
  /** Replaced files are kept this long after their merge for exports already reading them; 0 deletes at once. */
  replacedGraceMs?: number;
  rowGroupSize?: number;
  initialRetryMs?: number;
  maxRetryMs?: number;
  hooks?: CompactorHooks;
  logger?: CompactorLogger;
}

export interface CompactorViewStatus {
  view: string;
  topic: string;
  state: ViewCompactorState;
  lastError?: string;
}

/**
 * Writes the history of every offline view as Parquet segments. It follows the registry: a view applied
 * with `offline: true` starts being compacted, a deleted one stops (after flushing), a changed one is
 * flushed with its old schema and restarted with the new. See ViewCompactor for how each view resumes
 * from `<project>.segments` alone and why every offset ends up in exactly one live segment.
 */
export class Compactor {
  readonly counters: CompactorCounters = zeroCounters();
  readonly segmentLog: SegmentLog;
  private readonly views = new Map<string, ViewCompactor>();
  private readonly codec: SegmentCodec;
  private readonly groupId: string;
  private readonly logger: CompactorLogger;
  private readonly deadLetters: DeadLetterWriter;
  private syncing: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private stopped = false;

  private constructor(private readonly options: CompactorOptions) {
    this.codec = options.codec ?? new HyparquetSegmentCodec();
    this.groupId = options.groupId ?? `featurelog-compactor.${options.project}.${randomUUID()}`;
    this.logger = options.logger ?? new Logger('Compactor');
    // Named by project, not by the per-process group id: a restarted compactor must know its own dead letters.
    this.deadLetters = new DeadLetterWriter(
      options.log,
      topicNames.dlq(options.project),
      `${options.project}.compactor`,
    );
    this.segmentLog = new SegmentLog({
      log: options.log,
      serde: new SegmentEventSerde(options.schemas, options.project),
      project: options.project,
      ...(options.segmentsTopicSpec === undefined ? {} : { topicSpec: options.segmentsTopicSpec }),
    });
  }

  static async start(options: CompactorOptions): Promise<Compactor> {
    const compactor = new Compactor(options);
    await options.follower.catchUp();
    await compactor.segmentLog.catchUp();
    compactor.unsubscribe = options.follower.onChange(() => void compactor.sync());
    await compactor.sync();
    compactor.timer = setInterval(() => compactor.tick(), options.tickMs ?? COMPACTOR_DEFAULTS.tickMs);
    compactor.timer.unref();
    return compactor;
  }

  get project(): string {
    return this.options.project;
  }

  get offlineRoot(): string {
    return this.options.offlineRoot;
  }

  status(): CompactorViewStatus[] {
    return [...this.views.values()].map((v) => ({
      view: v.view.key,
      topic: v.view.topic,
      state: v.state,
      ...(v.lastError === undefined ? {} : { lastError: String((v.lastError as Error).message ?? v.lastError) }),
    }));
  }

  /** Per view, offsets in the log not yet in any live segment (end offset − covered prefix, summed). */
  async lag(): Promise<Map<string, number>> {
    await this.segmentLog.catchUp();
    const lag = new Map<string, number>();
    for (const compactor of this.views.values()) {
      const ends = await this.options.log.endOffsets(compactor.view.topic);
      const covered = new Map(
        segmentCoverage(this.segmentLog.catalog, compactor.view.key).partitions.map(
          (p) => [p.partition, p.coveredUntil] as const,
        ),
      );
      let total = 0;
      for (const [partition, end] of ends) total += Math.max(0, end - (covered.get(partition) ?? 0));
      lag.set(compactor.view.key, total);
    }
    return lag;
  }

  /** Flushes every view's buffers now. */
  async flushAll(): Promise<void> {
    await this.syncing;
    await Promise.all([...this.views.values()].map((view) => view.flushAll()));
  }

  /** Merges due small segments of every view now. */
  async mergeNow(): Promise<void> {
    await this.syncing;
    await Promise.all([...this.views.values()].map((view) => view.mergeNow()));
  }

  /** Stops every view; `flush: false` drops the buffers as a crash would (they are read again next time). */
  async stop({ flush = true }: { flush?: boolean } = {}): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    if (this.timer) clearInterval(this.timer);
    await this.syncing;
    await Promise.all([...this.views.values()].map((view) => view.stop({ flush })));
    this.views.clear();
  }

  private tick(): void {
    const now = Date.now();
    for (const view of this.views.values()) view.tick(now);
  }

  private sync(): Promise<void> {
    const run = this.syncing.then(() => this.reconcile());
    this.syncing = run.catch((error: unknown) =>
      this.logger.error(`following the registry failed: ${error instanceof Error ? error.message : String(error)}`),
    );
    return run;
  }

  private async reconcile(): Promise<void> {
    if (this.stopped) return;
    const desired = offlineViews(this.options.follower.state, this.options.project);
    for (const [key, running] of this.views) {
      const next = desired.get(key);
      if (next !== undefined && next.fingerprint === running.view.fingerprint) continue;
      await running.stop({ flush: true });
      this.views.delete(key);
      this.logger.log(
        next === undefined ? `view ${key}: no longer offline, stopped` : `view ${key}: changed, restarting`,
      );
    }
    for (const [key, view] of desired) {
      if (this.views.has(key)) continue;
      this.views.set(key, this.startView(view));
    }
  }

  private startView(view: OfflineView): ViewCompactor {
    const o = this.options;
    const compactor = new ViewCompactor(view, {
      project: o.project,
      root: o.offlineRoot,
      log: o.log,
      schemas: o.schemas,
      segmentLog: this.segmentLog,
      deadLetters: this.deadLetters,
      codec: this.codec,
      groupId: `${this.groupId}.${view.key}`,
      settings: {
        maxRows: o.maxRows ?? COMPACTOR_DEFAULTS.maxRows,
        maxAgeMs: o.maxAgeMs ?? COMPACTOR_DEFAULTS.maxAgeMs,
        mergeIntervalMs: o.mergeIntervalMs ?? COMPACTOR_DEFAULTS.mergeIntervalMs,
        merge: o.merge ?? {},
        gcIntervalMs: o.gcIntervalMs ?? COMPACTOR_DEFAULTS.gcIntervalMs,
        orphanGraceMs: o.orphanGraceMs ?? COMPACTOR_DEFAULTS.orphanGraceMs,
        replacedGraceMs: o.replacedGraceMs ?? COMPACTOR_DEFAULTS.replacedGraceMs,
        rowGroupSize: o.rowGroupSize ?? COMPACTOR_DEFAULTS.rowGroupSize,
        initialRetryMs: o.initialRetryMs ?? COMPACTOR_DEFAULTS.initialRetryMs,
        maxRetryMs: o.maxRetryMs ?? COMPACTOR_DEFAULTS.maxRetryMs,
      },
      hooks: o.hooks ?? {},
      counters: this.counters,
      logger: this.logger,
    });
    compactor.start();
    return compactor;
  }
}
