import { randomUUID } from 'node:crypto';
import type { SchemaRegistryPort } from '@featurelog/avro';
import type { EventLog, TopicSpec } from '@featurelog/log';
import { topicNames, type FeaturelogLogger, type RegistryState } from '@featurelog/domain';
import { HyparquetSegmentCodec, type MergePlanOptions, type SegmentCodec } from '@featurelog/offline-store';
import {
  ProjectionRuntime,
  type FollowedRegistry,
  type Projection,
  type StreamContext,
  type StreamSpec,
  type StreamState,
} from '@featurelog/projection';
import { offlineViews, SegmentEventSerde, SegmentLog, type OfflineView } from '@featurelog/offline-store';
import {
  ViewCompactorRun,
  zeroCounters,
  type CompactorCounters,
  type CompactorHooks,
  type ViewCompactorDeps,
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
  follower: FollowedRegistry;
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
  logger?: FeaturelogLogger;
}

export interface CompactorViewStatus {
  view: string;
  topic: string;
  state: StreamState;
  lastError?: string;
}

/**
 * Writes the history of every offline view as Parquet segments. It is a projection with a stream per
 * offline view (see ProjectionRuntime): a view applied with `offline: true` starts being compacted, a
 * deleted one stops (after flushing), a changed one is flushed with its old schema and restarted with
 * the new. See ViewCompactorRun for how each view resumes from `<project>.segments` alone and why every
 * offset ends up in exactly one live segment.
 */
export class Compactor implements Projection<OfflineView> {
  readonly name: string;
  readonly counters: CompactorCounters = zeroCounters();
  readonly segmentLog: SegmentLog;
  /** The runtime it runs on: status, lag and metrics of its streams. */
  readonly runtime: ProjectionRuntime<OfflineView>;
  private readonly deps: ViewCompactorDeps;
  private readonly groupIdPrefix: string;
  private readonly unmergeable = new Map<string, Set<string>>();
  private timer: NodeJS.Timeout | undefined;

  private constructor(private readonly options: CompactorOptions) {
    const o = options;
    // Named by project, not by the per-process group id: a restarted compactor must know its own dead letters.
    this.name = `${o.project}.compactor`;
    this.groupIdPrefix = o.groupId ?? `featurelog-compactor.${o.project}.${randomUUID()}`;
    this.segmentLog = new SegmentLog({
      log: o.log,
      serde: new SegmentEventSerde(o.schemas, o.project),
      project: o.project,
      ...(o.segmentsTopicSpec === undefined ? {} : { topicSpec: o.segmentsTopicSpec }),
    });
    this.deps = {
      project: o.project,
      root: o.offlineRoot,
      schemas: o.schemas,
      segmentLog: this.segmentLog,
      codec: o.codec ?? new HyparquetSegmentCodec(),
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
    };
    this.runtime = new ProjectionRuntime(this, {
      log: o.log,
      dlqTopic: topicNames.dlq(o.project),
      ...(o.dlqTopicSpec === undefined ? {} : { dlqTopicSpec: o.dlqTopicSpec }),
      follower: o.follower,
      // A failed view starts again from the segment log after 100, 200, 400 … ms.
      restartDelayMs: this.deps.settings.initialRetryMs,
      maxRestartDelayMs: this.deps.settings.maxRetryMs,
      ...(o.logger === undefined ? {} : { logger: o.logger }),
      events: { restarting: () => this.counters.restarts++ },
    });
  }

  static async start(options: CompactorOptions): Promise<Compactor> {
    const compactor = new Compactor(options);
    await options.follower.catchUp();
    await compactor.segmentLog.catchUp();
    await compactor.runtime.start();
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
    return this.runtime.status().map((stream) => ({
      view: stream.key,
      topic: stream.topics[0]!,
      state: stream.state,
      ...(stream.lastError === undefined ? {} : { lastError: stream.lastError }),
    }));
  }

  /** Next offset each partition of a view's compaction will account for (empty while it is not running). */
  cursors(view: string): Map<number, number> {
    return this.viewRun(view)?.cursors() ?? new Map();
  }

  /** Per view, offsets in the log not yet in any live segment (end offset − covered prefix, summed). */
  async lag(): Promise<Map<string, number>> {
    await this.segmentLog.catchUp();
    const lag = new Map<string, number>(this.runtime.status().map((stream) => [stream.key, 0]));
    for (const partition of await this.runtime.lag()) {
      lag.set(partition.stream, (lag.get(partition.stream) ?? 0) + partition.lag);
    }
    return lag;
  }

  /** Flushes every view's buffers now. */
  async flushAll(): Promise<void> {
    await this.runtime.settled();
    await Promise.all(this.runs().map((run) => run.flushAll()));
  }

  /** Merges due small segments of every view now. */
  async mergeNow(): Promise<void> {
    await this.runtime.settled();
    await Promise.all(this.runs().map((run) => run.mergeNow()));
  }

  /** Stops every view; `flush: false` drops the buffers as a crash would (they are read again next time). */
  async stop({ flush = true }: { flush?: boolean } = {}): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.runtime.stop({ flush });
  }

  // ---- the projection -----------------------------------------------------------------------

  streams(state: RegistryState | undefined): Array<StreamSpec<OfflineView>> {
    const views = offlineViews(state ?? this.options.follower.state, this.options.project);
    return [...views.values()].map((view) => ({
      key: view.key,
      topics: [view.topic],
      fingerprint: view.fingerprint,
      unit: view,
    }));
  }

  groupId(spec: StreamSpec<OfflineView>): string {
    return `${this.groupIdPrefix}.${spec.key}`;
  }

  open(spec: StreamSpec<OfflineView>, context: StreamContext): Promise<ViewCompactorRun> {
    let unmergeable = this.unmergeable.get(spec.key);
    if (unmergeable === undefined) {
      unmergeable = new Set();
      this.unmergeable.set(spec.key, unmergeable);
    }
    return ViewCompactorRun.open(spec.unit, this.deps, context, unmergeable);
  }

  private viewRun(view: string): ViewCompactorRun | undefined {
    return this.runtime.run(view) as ViewCompactorRun | undefined;
  }

  private runs(): ViewCompactorRun[] {
    return this.runtime
      .status()
      .map((stream) => this.viewRun(stream.key))
      .filter((run): run is ViewCompactorRun => run !== undefined);
  }

  private tick(): void {
    const now = Date.now();
    for (const run of this.runs()) run.tick(now);
  }
}
