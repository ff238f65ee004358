import {
  evolveRegistryInPlace,
  FeaturelogError,
  initialRegistryState,
  topicNames,
  type RegistryChangeset,
  type RegistryState,
} from '@featurelog/domain';
import type { EventLog, LogRecord } from '@featurelog/log';
import type { RegistryCodec } from './registry-codec.port';

/** A registry event the fold could not read. The fold goes on; the state is then incomplete. */
export interface UnreadableRegistryEvent {
  offset: number;
  code: string;
  reason: string;
}

export type RegistryListener = (state: RegistryState, changeset: RegistryChangeset, offset: number) => void;

/**
 * Called after each batch of events is folded, before the next is read, and awaited: a projection
 * that persists here stores its state and checkpoint together, in log order.
 */
export type FoldedListener = (state: RegistryState, unreadable: readonly UnreadableRegistryEvent[]) => Promise<void>;

export interface RegistryFollowerOptions {
  log: EventLog;
  codec: RegistryCodec;
  project: string;
  /** Records read per batch while catching up. */
  maxBatch?: number;
  /** Backoff of the live tail after a failure. */
  initialRetryMs?: number;
  maxRetryMs?: number;
}

/**
 * Holds the registry in memory by folding `<project>.registry` (always one partition, so the
 * registry version is an offset). Serving, the materializer and the CLI each run one; the registry
 * app runs one and persists what it folds.
 *
 * An event that cannot be decoded is recorded with its offset and skipped, so the others are still
 * folded, but `assertComplete` then refuses: a registry with a hole in it is not served.
 */
export class RegistryFollower {
  /** Folded in place (see evolveRegistryInPlace): one follower owns its state. */
  private readonly current: RegistryState;
  private readonly unreadable: UnreadableRegistryEvent[];
  private readonly listeners = new Set<RegistryListener>();
  private readonly foldedListeners = new Set<FoldedListener>();
  private readonly waiters: Array<{ offset: number; resolve: () => void }> = [];
  private controller: AbortController | undefined;
  private following: Promise<void> = Promise.resolve();
  private lastFollowError: Error | undefined;
  private name = 'registry follower';
  /** Every fold step runs on this chain, so catch-ups and live batches never interleave. */
  private folding: Promise<void> = Promise.resolve();
  readonly topic: string;

  constructor(
    private readonly options: RegistryFollowerOptions,
    initial: RegistryState = initialRegistryState(),
    unreadable: readonly UnreadableRegistryEvent[] = [],
  ) {
    this.topic = topicNames.registry(options.project);
    this.current = initial;
    this.unreadable = [...unreadable];
  }

  get state(): RegistryState {
    return this.current;
  }

  /** Offset the next registry event will be read from. */
  get nextOffset(): number {
    return this.current.lastOffset + 1;
  }

  get problems(): readonly UnreadableRegistryEvent[] {
    return this.unreadable;
  }

  /** Throws REGISTRY_INCOMPLETE, naming every unreadable offset, when the fold has holes. */
  assertComplete(): void {
    if (this.unreadable.length === 0) return;
    const list = this.unreadable.map((event) => `offset ${event.offset}: ${event.code}: ${event.reason}`).join('; ');
    throw new FeaturelogError(
      'REGISTRY_INCOMPLETE',
      `the registry log ${this.topic} could not be folded completely, so it is not served (${list})`,
    );
  }

  /** The registry as of the log's end now: catches up, refuses a fold with holes (assertComplete). */
  async caughtUpState(): Promise<RegistryState> {
    await this.catchUp();
    this.assertComplete();
    return this.current;
  }

  onChange(listener: RegistryListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onFolded(listener: FoldedListener): () => void {
    this.foldedListeners.add(listener);
    return () => this.foldedListeners.delete(listener);
  }

  /**
   * Reads the registry topic up to its current end and folds it. Concurrent calls share one read,
   * so a caller that needs "everything appended before now" can always call this.
   */
  catchUp(): Promise<void> {
    return this.enqueue(() => this.readToEnd());
  }

  private enqueue(step: () => Promise<void>): Promise<void> {
    const run = this.folding.then(step);
    // A failed step (log unavailable) fails its caller, not every later step.
    this.folding = run.catch(() => undefined);
    return run;
  }

  /** Resolves once the event at `offset` has been folded (reading it now if it is not yet). */
  async waitForOffset(offset: number): Promise<RegistryState> {
    if (this.current.lastOffset < offset) await this.catchUp();
    if (this.current.lastOffset < offset) {
      await new Promise<void>((resolve) => this.waiters.push({ offset, resolve }));
    }
    return this.current;
  }

  /** Catches up, then follows the topic live until `stop`. */
  /**
   * Catches up, then follows the topic live (a group-less tail: every process folds the whole
   * registry, so there is nothing to share out and nothing to commit) until `stop`. A failed tail
   * (broker gone) is retried with backoff; `followError` says why meanwhile, for health checks.
   * `name` only labels this follower in errors.
   */
  async start(name = 'registry follower'): Promise<void> {
    await this.catchUp();
    this.name = name;
    const controller = new AbortController();
    this.controller = controller;
    this.following = this.followLoop(controller.signal);
  }

  /** Why the live tail is failing right now, or undefined while it runs (or before start). */
  get followError(): Error | undefined {
    return this.lastFollowError;
  }

  async stop(): Promise<void> {
    this.controller?.abort();
    await this.following;
    this.controller = undefined;
  }

  private async followLoop(signal: AbortSignal): Promise<void> {
    const { initialRetryMs = 100, maxRetryMs = 5_000 } = this.options;
    let delay = initialRetryMs;
    while (!signal.aborted) {
      try {
        for await (const records of this.options.log.follow(this.topic, 0, this.nextOffset, { signal })) {
          await this.enqueue(() => this.foldDecoded(records));
          this.lastFollowError = undefined;
          delay = initialRetryMs;
        }
      } catch (error) {
        if (signal.aborted) return;
        this.lastFollowError = new FeaturelogError(
          'REGISTRY_FOLLOW_FAILED',
          `${this.name} cannot follow ${this.topic} (retrying in ${delay} ms): ${error instanceof Error ? error.message : String(error)}`,
          { retriable: true, cause: error },
        );
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
        });
        delay = Math.min(delay * 2, maxRetryMs);
      }
    }
  }

  private async readToEnd(): Promise<void> {
    const { log, maxBatch = 5_000 } = this.options;
    if ((await log.describeTopic(this.topic)) === undefined) return;
    const end = (await log.endOffsets(this.topic)).get(0) ?? 0;
    if (this.nextOffset >= end) return;
    for await (const records of log.read(this.topic, 0, this.nextOffset, { untilOffset: end, maxBatch })) {
      await this.foldDecoded(records);
    }
  }

  private async foldDecoded(records: LogRecord[]): Promise<void> {
    for (const record of records) {
      if (record.offset <= this.current.lastOffset) continue;
      let changeset: RegistryChangeset;
      try {
        if (record.value === null) throw new FeaturelogError('REGISTRY_EVENT_EMPTY', 'the record has no value');
        changeset = await this.options.codec.decode(record.value);
      } catch (error) {
        this.unreadable.push({
          offset: record.offset,
          code: error instanceof FeaturelogError ? error.code : 'REGISTRY_EVENT_UNREADABLE',
          reason: error instanceof Error ? error.message : String(error),
        });
        // The offset is consumed (so the fold can go on), but nothing of it is applied.
        this.current.lastOffset = record.offset;
        continue;
      }
      evolveRegistryInPlace(this.current, changeset, record.offset);
      for (const listener of this.listeners) listener(this.current, changeset, record.offset);
    }
    for (const listener of this.foldedListeners) await listener(this.current, this.unreadable);
    this.releaseWaiters();
  }

  private releaseWaiters(): void {
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const waiter = this.waiters[i]!;
      if (waiter.offset <= this.current.lastOffset) {
        this.waiters.splice(i, 1);
        waiter.resolve();
      }
    }
  }
}
