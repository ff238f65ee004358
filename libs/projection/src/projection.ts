import type { FeaturelogLogger, RegistryState } from '@featurelog/domain';
import type { PoisonedRecord, RecordBatch } from '@featurelog/log';
import type { BatchOutcome } from './consumer-runner';

/**
 * One consumer of a projection: a set of topics read by one subscription, with the state the projection
 * keeps for it. The runtime starts a stream per spec, restarts it when its fingerprint changes and
 * retires it when the registry no longer asks for it.
 */
export interface StreamSpec<Unit> {
  /** Stable while the stream is meant to run (a view's key, or one name for a projection of one stream). */
  key: string;
  topics: readonly string[];
  /** A change restarts the stream (closing the old run with a flush); a change of topics alone does not. */
  fingerprint: string;
  unit: Unit;
}

/** What the runtime offers a run: the shared dead-letter policy and the way out. */
export interface StreamContext {
  readonly key: string;
  readonly logger: FeaturelogLogger;
  /**
   * Sends poison records to the project's dead-letter topic, each once for this projection whatever the
   * redeliveries, and reports them; resolves once they are durable (so a checkpoint may then pass them).
   */
  deadLetter(poisoned: readonly PoisonedRecord[]): Promise<void>;
  /** Ends this run for good (its state is wrong): the stream starts again from its checkpoint after a pause. */
  fail(error: unknown): void;
  /** Ends this run and starts another from the checkpoint now (a wiped sink, topics consumed again). */
  restart(reason: string): Promise<void>;
}

/** A stream's spec changed while its fingerprint did not: the run follows without a restart. */
export interface SpecChange<Unit> {
  spec: StreamSpec<Unit>;
  added: readonly string[];
  removed: readonly string[];
}

/**
 * One life of a stream, from its checkpoint to a stop or a failure. Its start offsets are read from the
 * sink when it opens (never from the consumer group's commits), so a run that dies mid-batch is
 * replaced by one that resumes exactly where the sink's writes stopped.
 */
export interface StreamRun<Unit> {
  /** Where a partition starts: the sink's checkpoint, or 0. Asked once per partition per run. */
  startOffset(topic: string, partition: number): number;
  /**
   * Processes one batch (see BatchHandler for what a rejection means). Poison records may be returned
   * (the runtime dead-letters them after the batch) or dead-lettered in place through the context, when
   * the sink's checkpoint must pass them in the same batch.
   */
  handle(batch: RecordBatch): Promise<BatchOutcome | void>;
  /** Next offset of a partition the sink has (lag is the topic's end minus this). */
  checkpoint(topic: string, partition: number): number;
  /**
   * The registry changed and the stream runs on, with a new unit and maybe topics added or removed.
   * Removed ones are already unsubscribed when it is called; added ones are subscribed once it returns
   * (their start offsets read by then). Without it, a change of topics restarts the stream.
   */
  update?(change: SpecChange<Unit>): Promise<void>;
  /** The stream stops (flush: write what is buffered) or fails (no flush: drop it, as a crash would). */
  close(options: { flush: boolean }): Promise<void>;
}

/**
 * What a consumer states: which streams the registry asks for, and how one runs. Everything else
 * (following the registry, reconciling streams as definitions come and go, retrying infrastructure
 * failures, dead-lettering poison records once, restarting with backoff, status and lag) is the
 * runtime's.
 */
export interface Projection<Unit> {
  /** Names the projection in its dead letters; stable across restarts (e.g. `<project>.materializer`). */
  readonly name: string;
  /** The streams wanted for this registry state (without a registry: called with undefined). */
  streams(state: RegistryState | undefined): Promise<Array<StreamSpec<Unit>>> | Array<StreamSpec<Unit>>;
  /** The consumer group of a stream: it only shares partitions between instances. */
  groupId(spec: StreamSpec<Unit>): string;
  /**
   * The sink takes a batch written twice as harmlessly as once (e.g. last-write-wins on the row's
   * version): the group's commit after each batch is then not waited for (SubscribeOptions.commitInBackground).
   */
  readonly rewritesHarmless?: boolean;
  /** Opens a run: reads the checkpoint from the sink and whatever state the run starts from. */
  open(spec: StreamSpec<Unit>, context: StreamContext): Promise<StreamRun<Unit>>;
  /** A stream the registry no longer asks for has been stopped (with a flush). */
  retired?(spec: StreamSpec<Unit>): Promise<void>;
}
