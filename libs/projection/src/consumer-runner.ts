import { FeaturelogError } from '@featurelog/domain';
import {
  DeadLetterWriter,
  type EventLog,
  type PoisonedRecord,
  type RecordBatch,
  type SubscribeOptions,
  type Subscription,
} from '@featurelog/log';

/** What a handler reports after processing what it could of a batch. */
export interface BatchOutcome {
  /** Records skipped as poison; they go to the DLQ and the rest of the batch counts as done. */
  poisoned?: PoisonedRecord[];
}

/**
 * Processes one batch. Reject only for the whole batch:
 * - with a non-retriable FeaturelogError: the batch is handled again record by record to find the
 *   poison, which then goes to the DLQ (so a handler may simply throw on the first bad record,
 *   provided re-applying the good ones is harmless — featurelog's projections are idempotent);
 * - with a RestartFromCheckpoint: the handler's own state can no longer be trusted (a buffer half
 *   flushed); the runner ends, failing `done`, and its owner starts again from the sink's checkpoint;
 * - with anything else (a retriable FeaturelogError, or an unknown error): the batch is retried
 *   with backoff until it succeeds, and never goes to the DLQ.
 */
export type BatchHandler = (batch: RecordBatch) => Promise<BatchOutcome | void>;

export interface ConsumerRunnerOptions {
  log: EventLog;
  groupId: string;
  topics: string[];
  /** The project's dead-letter topic (topicNames.dlq(project)). */
  dlqTopic: string;
  /**
   * The projection's name in its dead letters (see DeadLetterWriter), stable across restarts so that a
   * record redelivered after a crash is not dead-lettered again; default `groupId`.
   */
  consumer?: string;
  /** The writer to dead-letter with, when the owner dead-letters records itself too (one per consumer). */
  deadLetters?: DeadLetterWriter;
  handle: BatchHandler;
  fromBeginning?: boolean;
  startOffsets?: SubscribeOptions['startOffsets'];
  commitInBackground?: SubscribeOptions['commitInBackground'];
  /** First pause after a retriable failure; doubles per attempt up to maxRetryMs. */
  initialRetryMs?: number;
  maxRetryMs?: number;
  /** Told of every retry, so an operator sees a stuck consumer and why. */
  onRetry?: (event: { error: unknown; attempt: number; delayMs: number; topic: string; partition: number }) => void;
  /** Told of every poison record once it is in the DLQ (sent now, or by this consumer before a restart). */
  onPoison?: (poisoned: PoisonedRecord) => void;
}

/** Ends the batch in flight when the runner stops during a retry pause. */
class RunnerStopped extends Error {}

/**
 * Thrown by a handler whose in-memory state a failure has made untrustworthy: retrying the batch would
 * build on it, so the runner ends instead (its `done` rejects with `cause`) and is started again from
 * the checkpoint in the sink.
 */
export class RestartFromCheckpoint extends Error {
  constructor(override readonly cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause));
  }
}

/**
 * A subscription with featurelog's failure policy: poison records go to the DLQ and processing
 * moves on; transient failures (broker or Redis down) are retried with exponential backoff.
 */
export class ConsumerRunner {
  readonly done: Promise<void>;
  private subscription!: Subscription;
  private stopping = false;
  private readonly wakeSleepers = new Set<() => void>();
  private settle!: { resolve: () => void; reject: (error: unknown) => void };
  private readonly initialRetryMs: number;
  private readonly maxRetryMs: number;
  private readonly deadLetters: DeadLetterWriter;

  private constructor(private readonly options: ConsumerRunnerOptions) {
    this.deadLetters =
      options.deadLetters ?? new DeadLetterWriter(options.log, options.dlqTopic, options.consumer ?? options.groupId);
    this.initialRetryMs = options.initialRetryMs ?? 100;
    this.maxRetryMs = options.maxRetryMs ?? 5_000;
    this.done = new Promise<void>((resolve, reject) => (this.settle = { resolve, reject }));
    this.done.catch(() => undefined);
  }

  static async start(options: ConsumerRunnerOptions): Promise<ConsumerRunner> {
    const runner = new ConsumerRunner(options);
    runner.subscription = await options.log.subscribe({
      groupId: options.groupId,
      topics: options.topics,
      fromBeginning: options.fromBeginning ?? true,
      startOffsets: options.startOffsets,
      commitInBackground: options.commitInBackground,
      eachBatch: (batch) => runner.process(batch),
    });
    runner.subscription.done.then(
      () => runner.settle.resolve(),
      (error: unknown) => {
        if (error instanceof RunnerStopped) runner.settle.resolve();
        else runner.settle.reject(error instanceof RestartFromCheckpoint ? error.cause : error);
      },
    );
    return runner;
  }

  topics(): string[] {
    return this.subscription.topics();
  }

  addTopics(topics: string[]): Promise<void> {
    return this.subscription.addTopics(topics);
  }

  removeTopics(topics: string[]): Promise<void> {
    return this.subscription.removeTopics(topics);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wakeSleepers.forEach((wake) => wake());
    await this.subscription.stop();
    await this.done.catch(() => undefined);
  }

  private async process(batch: RecordBatch): Promise<void> {
    // Between batches, let pending I/O (health probes, metrics scrapes) run: a backlog arrives as one batch
    // after another that are ready at once, and their promises alone would never give the event loop back.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const poisoned = await this.handleFindingPoison(batch);
    if (poisoned.length === 0) return;
    // Only what this consumer has not dead-lettered before (a redelivery after a crash): once per record.
    await this.retrying(batch, () => this.deadLetters.send(poisoned));
    poisoned.forEach((entry) => this.options.onPoison?.(entry));
  }

  private handleFindingPoison(batch: RecordBatch): Promise<PoisonedRecord[]> {
    return this.retrying(batch, async () => {
      try {
        return (await this.options.handle(batch))?.poisoned ?? [];
      } catch (error) {
        if (!isPoison(error)) throw error;
        if (batch.records.length === 1) return [{ record: batch.records[0]!, error }];
        const poisoned: PoisonedRecord[] = [];
        for (const record of batch.records) {
          poisoned.push(...(await this.handleFindingPoison({ ...batch, records: [record] })));
        }
        return poisoned;
      }
    });
  }

  /** Runs `operation` until it succeeds or fails with poison; pauses grow 100, 200, 400 … 5000 ms. */
  private async retrying<T>(batch: RecordBatch, operation: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      if (this.stopping) throw new RunnerStopped('consumer runner stopped');
      try {
        return await operation();
      } catch (error) {
        if (isPoison(error) || error instanceof RunnerStopped || error instanceof RestartFromCheckpoint) throw error;
        const delayMs = Math.min(this.maxRetryMs, this.initialRetryMs * 2 ** (attempt - 1));
        this.options.onRetry?.({ error, attempt, delayMs, topic: batch.topic, partition: batch.partition });
        await this.sleep(delayMs);
      }
    }
  }

  private sleep(delayMs: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.wakeSleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, delayMs);
      this.wakeSleepers.add(wake);
    });
  }
}

function isPoison(error: unknown): error is FeaturelogError {
  return error instanceof FeaturelogError && !error.retriable;
}
