import { FeaturelogError, type FeaturelogLogger, type RegistryState } from '@featurelog/domain';
import { DeadLetterWriter, type EventLog, type PoisonedRecord, type TopicSpec } from '@featurelog/log';
import { ConsumerRunner } from './consumer-runner';
import type { Projection, StreamContext, StreamRun, StreamSpec } from './projection';

/** The registry as the runtime follows it (RegistryFollower, without depending on its lib). */
export interface FollowedRegistry {
  readonly state: RegistryState;
  catchUp(): Promise<void>;
  onFolded(listener: (state: RegistryState) => Promise<void>): () => void;
}

/** Told of what happens to the streams, for a projection's own metrics and logs. */
export interface ProjectionEvents {
  /** A batch failed on infrastructure and is retried after `delayMs`. */
  retry?(event: { error: unknown; attempt: number; delayMs: number; topic: string; partition: number }): void;
  /** A poison record is in the DLQ (sent now, or by this projection before a restart). */
  deadLettered?(poisoned: PoisonedRecord): void;
  /** A stream's run failed; it starts again from its checkpoint after `delayMs`. */
  restarting?(event: { stream: string; error: unknown; attempt: number; delayMs: number }): void;
}

export interface ProjectionRuntimeOptions {
  log: EventLog;
  /** The project's dead-letter topic (topicNames.dlq(project)). */
  dlqTopic: string;
  /** Its declaration, to create it on the first dead letter if `apply` has not yet. */
  dlqTopicSpec?: TopicSpec;
  /** Followed for the streams to run; without one, the projection's streams are fixed at start. */
  follower?: FollowedRegistry;
  /** How often the registry is read to its end besides the live subscription (0: never). */
  registryPollMs?: number;
  /** Backoff of batches failing on infrastructure (see ConsumerRunner). */
  initialRetryMs?: number;
  maxRetryMs?: number;
  /** Backoff of a stream's restarts after its run failed. */
  restartDelayMs?: number;
  maxRestartDelayMs?: number;
  logger?: FeaturelogLogger;
  events?: ProjectionEvents;
}

export type StreamState = 'starting' | 'running' | 'retrying' | 'stopped';

export interface StreamStatus {
  key: string;
  topics: string[];
  state: StreamState;
  lastError?: string;
  /** Runs that failed and were started again since the runtime started. */
  restarts: number;
}

export interface PartitionLag {
  stream: string;
  topic: string;
  partition: number;
  lag: number;
}

const defaults = {
  registryPollMs: 5_000,
  initialRetryMs: 100,
  maxRetryMs: 5_000,
  restartDelayMs: 500,
  maxRestartDelayMs: 30_000,
};

/**
 * Runs a projection: follows the registry to the streams it wants, reconciles them as definitions come
 * and go, consumes each with featurelog's failure policy (infrastructure errors retried with backoff,
 * poison records dead-lettered once and passed), restarts a failed stream from its checkpoint with
 * growing pauses, and reports status and lag. The materializer, the compactor and the job worker are
 * projections run by it; each states only what it does with a batch and where its checkpoint lives.
 */
export class ProjectionRuntime<Unit> {
  private readonly streams = new Map<string, Stream<Unit>>();
  private readonly settings: typeof defaults;
  readonly logger: FeaturelogLogger;
  readonly deadLetters: DeadLetterWriter;
  private control: Promise<void> = Promise.resolve();
  private reconcileQueued = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private unfollow: (() => void) | undefined;
  private stopping = false;
  private readonly listeners: ProjectionEvents[] = [];
  /** Tells every listener (the projection's own, its metrics) of an event. */
  readonly events: Required<ProjectionEvents>;

  constructor(
    readonly projection: Projection<Unit>,
    readonly options: ProjectionRuntimeOptions,
  ) {
    this.settings = {
      registryPollMs: options.registryPollMs ?? defaults.registryPollMs,
      initialRetryMs: options.initialRetryMs ?? defaults.initialRetryMs,
      maxRetryMs: options.maxRetryMs ?? defaults.maxRetryMs,
      restartDelayMs: options.restartDelayMs ?? defaults.restartDelayMs,
      maxRestartDelayMs: options.maxRestartDelayMs ?? defaults.maxRestartDelayMs,
    };
    this.logger = options.logger ?? stderrLogger(projection.name);
    this.deadLetters = new DeadLetterWriter(options.log, options.dlqTopic, projection.name, options.dlqTopicSpec);
    if (options.events !== undefined) this.listeners.push(options.events);
    const listeners = this.listeners;
    this.events = {
      retry: (event) => listeners.forEach((listener) => listener.retry?.(event)),
      deadLettered: (poisoned) => listeners.forEach((listener) => listener.deadLettered?.(poisoned)),
      restarting: (event) => listeners.forEach((listener) => listener.restarting?.(event)),
    };
  }

  /** Tells `events` of what happens to the streams from now on (metrics attach here). */
  observe(events: ProjectionEvents): void {
    this.listeners.push(events);
  }

  /** Reads the registry to its end, opens the streams it asks for, and follows its changes. */
  async start(): Promise<void> {
    const { follower } = this.options;
    await follower?.catchUp();
    await this.enqueue(() => this.reconcile());
    if (follower === undefined) return;
    this.unfollow = follower.onFolded(async () => this.scheduleReconcile());
    if (this.settings.registryPollMs > 0) {
      this.every(this.settings.registryPollMs, async () => {
        await follower.catchUp();
        this.scheduleReconcile();
      });
    }
  }

  /** Stops every stream; `flush: false` drops what runs hold, as a crash would (the log still has it). */
  async stop({ flush = true }: { flush?: boolean } = {}): Promise<void> {
    this.stopping = true;
    this.timers.splice(0).forEach(clearInterval);
    this.unfollow?.();
    await this.control.catch(() => undefined);
    await Promise.all([...this.streams.values()].map((stream) => stream.stop({ flush })));
  }

  /** Runs `task` every `intervalMs` until the runtime stops, never two at once; failures are logged. */
  every(intervalMs: number, task: () => Promise<void>): void {
    let running = false;
    const timer = setInterval(() => {
      if (running || this.stopping) return;
      running = true;
      task()
        .catch((error: unknown) => this.logger.warn(describeError(error)))
        .finally(() => (running = false));
    }, intervalMs);
    timer.unref();
    this.timers.push(timer);
  }

  /** Reconciles the streams with the registry now (after the changes queued before). */
  reconcileNow(): Promise<void> {
    return this.enqueue(() => this.reconcile());
  }

  /** The run of a stream, if it is running now. */
  run(key: string): StreamRun<Unit> | undefined {
    return this.streams.get(key)?.current;
  }

  /** Waits for what each stream is doing now (an open, an update, a stop) to end. */
  async settled(): Promise<void> {
    await this.control.catch(() => undefined);
    await Promise.all([...this.streams.values()].map((stream) => stream.settled()));
  }

  status(): StreamStatus[] {
    return [...this.streams.values()].map((stream) => stream.status());
  }

  /** Throws, retriable, naming the streams that do not consume and why. */
  assertRunning(code: string, what: string): void {
    const down = this.status().filter((stream) => stream.state !== 'running');
    if (down.length === 0 && !this.stopping) return;
    const why = this.stopping ? 'stopped' : down.map((s) => `${s.key}: ${s.lastError ?? s.state}`).join('; ');
    throw new FeaturelogError(code, `${what} is not consuming: ${why}`, { retriable: true });
  }

  /** Per consumed partition: its topic's end offset minus the checkpoint in the sink. */
  async lag(): Promise<PartitionLag[]> {
    const out: PartitionLag[] = [];
    for (const stream of this.streams.values()) {
      const run = stream.current;
      if (run === undefined) continue;
      for (const topic of [...stream.spec.topics].sort()) {
        for (const [partition, end] of await this.options.log.endOffsets(topic)) {
          out.push({
            stream: stream.spec.key,
            topic,
            partition,
            lag: Math.max(0, end - run.checkpoint(topic, partition)),
          });
        }
      }
    }
    return out;
  }

  private enqueue(step: () => Promise<void>): Promise<void> {
    const run = this.control.then(() => (this.stopping ? undefined : step()));
    this.control = run.catch(() => undefined);
    return run;
  }

  private scheduleReconcile(): void {
    if (this.reconcileQueued) return;
    this.reconcileQueued = true;
    void this.enqueue(async () => {
      this.reconcileQueued = false;
      await this.reconcile();
    }).catch((error: unknown) => this.logger.warn(`applying registry changes: ${describeError(error)}`));
  }

  private async reconcile(): Promise<void> {
    const specs = await this.projection.streams(this.options.follower?.state);
    const desired = new Map(specs.map((spec) => [spec.key, spec] as const));
    for (const [key, stream] of this.streams) {
      const next = desired.get(key);
      if (next !== undefined && next.fingerprint === stream.spec.fingerprint) continue;
      await stream.stop({ flush: true });
      this.streams.delete(key);
      if (next === undefined) await this.projection.retired?.(stream.spec);
      this.logger.log(next === undefined ? `${key}: no longer wanted, stopped` : `${key}: changed, restarting`);
    }
    const opening: Array<Promise<void>> = [];
    for (const [key, spec] of desired) {
      const running = this.streams.get(key);
      if (running !== undefined) {
        await running.update(spec);
        continue;
      }
      const stream = new Stream(spec, this);
      this.streams.set(key, stream);
      opening.push(stream.start());
    }
    // New streams open side by side: each joins its own consumer group, which takes seconds on Kafka.
    await Promise.all(opening);
  }

  /** @internal the settings a stream runs with. */
  get streamSettings(): typeof defaults {
    return this.settings;
  }
}

/** One stream's lifecycle: open a run from the checkpoint, consume, follow topic changes, restart, stop. */
class Stream<Unit> {
  state: StreamState = 'starting';
  current: StreamRun<Unit> | undefined;
  private runner: ConsumerRunner | undefined;
  /** Topics the current runner has subscribed at some point (a re-added one needs a fresh runner). */
  private consumed = new Set<string>();
  private lastError: unknown;
  private restarts = 0;
  private attempts = 0;
  /** Counts runs: a context whose run has ended can no longer fail or restart the stream. */
  private generation = 0;
  private chain: Promise<void> = Promise.resolve();
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    public spec: StreamSpec<Unit>,
    private readonly runtime: ProjectionRuntime<Unit>,
  ) {}

  status(): StreamStatus {
    return {
      key: this.spec.key,
      topics: [...this.spec.topics].sort(),
      state: this.state,
      ...(this.lastError === undefined ? {} : { lastError: describeError(this.lastError) }),
      restarts: this.restarts,
    };
  }

  settled(): Promise<void> {
    return this.chain.catch(() => undefined);
  }

  /** Opens the first run; a failure is retried in the background, never thrown. */
  start(): Promise<void> {
    return this.enqueue(() => this.open()).catch((error: unknown) => this.failed(error, this.generation));
  }

  update(spec: StreamSpec<Unit>): Promise<void> {
    return this.enqueue(async () => {
      const before = this.spec;
      this.spec = spec;
      const run = this.current;
      const runner = this.runner;
      if (run === undefined || runner === undefined) return; // the next run opens with the new spec
      const removed = before.topics.filter((topic) => !spec.topics.includes(topic));
      const added = spec.topics.filter((topic) => !before.topics.includes(topic));
      if (removed.length === 0 && added.length === 0 && spec.unit === before.unit) return;
      if (run.update === undefined) {
        if (removed.length > 0 || added.length > 0) await this.reopen({ flush: true });
        return;
      }
      if (removed.length > 0) await runner.removeTopics(removed);
      // A subscription seeds a partition's start offset once: a topic consumed again needs a new runner.
      const again = added.some((topic) => this.consumed.has(topic));
      await run.update({ spec, added: again ? [] : added, removed });
      if (again) {
        await this.reopen({ flush: true });
        return;
      }
      if (added.length === 0) return;
      added.forEach((topic) => this.consumed.add(topic));
      this.runtime.logger.log(`${spec.key}: now also consuming ${added.join(', ')}`);
      await runner.addTopics([...added]);
    }).catch((error: unknown) => this.failed(error, this.generation));
  }

  stop({ flush }: { flush: boolean }): Promise<void> {
    this.stopped = true;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    return this.enqueue(async () => {
      await this.close({ flush });
      this.state = 'stopped';
    }, true);
  }

  private enqueue(step: () => Promise<void>, evenIfStopped = false): Promise<void> {
    const run = this.chain.then(() => (this.stopped && !evenIfStopped ? undefined : step()));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async open(): Promise<void> {
    const { projection, options } = this.runtime;
    const settings = this.runtime.streamSettings;
    const generation = ++this.generation;
    this.state = 'starting';
    const spec = this.spec;
    const run = await projection.open(spec, this.context(generation));
    let runner: ConsumerRunner;
    try {
      runner = await ConsumerRunner.start({
        log: options.log,
        groupId: projection.groupId(spec),
        topics: [...spec.topics],
        dlqTopic: options.dlqTopic,
        deadLetters: this.runtime.deadLetters,
        fromBeginning: true,
        // Always a number: the sink's checkpoint, or 0. The group's own commits are never used.
        startOffsets: (topic, partition) => run.startOffset(topic, partition),
        commitInBackground: projection.rewritesHarmless === true,
        handle: (batch) => run.handle(batch),
        initialRetryMs: settings.initialRetryMs,
        maxRetryMs: settings.maxRetryMs,
        onRetry: (event) => {
          this.runtime.events.retry(event);
          this.runtime.logger.warn(
            `${event.topic}/${event.partition}: retry ${event.attempt} in ${event.delayMs} ms: ${describeError(event.error)}`,
          );
        },
        onPoison: (poisoned) => this.reportDeadLetter(poisoned),
      });
    } catch (error) {
      await run.close({ flush: false }).catch(() => undefined);
      throw error;
    }
    this.current = run;
    this.runner = runner;
    this.consumed = new Set(spec.topics);
    this.state = 'running';
    this.lastError = undefined;
    this.attempts = 0;
    if (spec.topics.length > 0) this.runtime.logger.log(`${spec.key}: consuming ${spec.topics.join(', ')}`);
    runner.done.then(
      () => undefined,
      (error: unknown) => {
        if (this.runner === runner) this.failed(error, generation);
      },
    );
  }

  private context(generation: number): StreamContext {
    const runtime = this.runtime;
    return {
      key: this.spec.key,
      logger: runtime.logger,
      deadLetter: async (poisoned) => {
        await runtime.deadLetters.send(poisoned);
        poisoned.forEach((entry) => this.reportDeadLetter(entry));
      },
      fail: (error) => this.failed(error, generation),
      restart: async (reason) => {
        if (generation !== this.generation) return;
        runtime.logger.warn(`${this.spec.key}: ${reason}`);
        await this.enqueue(async () => {
          if (generation === this.generation) await this.reopen({ flush: false });
        }).catch((error: unknown) => this.failed(error, this.generation));
      },
    };
  }

  private reportDeadLetter(poisoned: PoisonedRecord): void {
    const { record, error } = poisoned;
    this.runtime.events.deadLettered(poisoned);
    this.runtime.logger.warn(
      `${record.topic}/${record.partition}@${record.offset} sent to ${this.runtime.options.dlqTopic}: ${error.code}: ${error.message}`,
    );
  }

  private async reopen({ flush }: { flush: boolean }): Promise<void> {
    await this.close({ flush });
    await this.open();
  }

  private async close({ flush }: { flush: boolean }): Promise<void> {
    const runner = this.runner;
    const run = this.current;
    this.runner = undefined;
    this.current = undefined;
    await runner?.stop();
    await run?.close({ flush });
  }

  /** The run of `generation` failed: drop it and open another from the checkpoint, with growing pauses. */
  private failed(error: unknown, generation: number): void {
    if (this.stopped || generation !== this.generation) return;
    this.generation++;
    const settings = this.runtime.streamSettings;
    const delayMs = Math.min(settings.maxRestartDelayMs, settings.restartDelayMs * 2 ** this.attempts);
    this.attempts++;
    this.restarts++;
    this.state = 'retrying';
    this.lastError = error;
    this.runtime.events.restarting({ stream: this.spec.key, error, attempt: this.attempts, delayMs });
    this.runtime.logger.warn(
      `${this.spec.key}: the consumer failed (${describeError(error)}); starting again from the checkpoint in ${delayMs} ms`,
    );
    void this.enqueue(() => this.close({ flush: false })).catch(() => undefined);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.enqueue(() => this.open()).catch((failure: unknown) => this.failed(failure, this.generation));
    }, delayMs);
    this.retryTimer.unref();
  }
}

export function describeError(error: unknown): string {
  if (error instanceof FeaturelogError) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

function stderrLogger(name: string): FeaturelogLogger {
  return {
    log: () => undefined,
    warn: (message) => process.stderr.write(`[${name} warn] ${message}\n`),
    error: (message) => process.stderr.write(`[${name} error] ${message}\n`),
  };
}
