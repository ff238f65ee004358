/**
 * The event log is featurelog's only source of truth. This port is the small slice of a
 * partitioned, append-only log that the consumers need; Kafka and the embedded file log both
 * implement it and pass the same contract suite (event-log.contract.ts).
 *
 * Offsets are plain numbers: a partition would need 2^53 records before that loses precision.
 */

/** Injection token for the EventLog bound by a module. */
export const EVENT_LOG = Symbol('featurelog:EventLog');

export interface TopicSpec {
  name: string;
  partitions: number;
  /** Topic-level configs as Kafka names them (`retention.ms`, `cleanup.policy`), values as strings. */
  config: Record<string, string>;
}

export interface EnsureTopicResult {
  /** False when the topic already existed; its partitions and config were then left as they were. */
  created: boolean;
  /** Partitions the topic actually has. */
  partitions: number;
  /**
   * True when the topic existed with fewer partitions than asked for. Partitions are never added
   * implicitly: that would move keys to other partitions and break per-key order.
   */
  fewerPartitionsThanRequested: boolean;
}

export interface TopicDescription {
  name: string;
  partitions: number;
  /** Configs set on the topic itself (not broker defaults). */
  config: Record<string, string>;
}

export interface AppendRecord {
  /** Records with equal keys land in the same partition (Kafka's murmur2 partitioner). */
  key: Buffer | null;
  /** Null is a tombstone. */
  value: Buffer | null;
  headers?: Record<string, string | Buffer>;
  /** Overrides partitioning by key. */
  partition?: number;
}

export interface RecordPosition {
  partition: number;
  offset: number;
}

export interface LogRecord {
  topic: string;
  partition: number;
  offset: number;
  key: Buffer | null;
  value: Buffer | null;
  /** Header values are always bytes on the way out, whatever went in. */
  headers: Record<string, Buffer>;
  /** When the record was appended, epoch milliseconds. */
  timestamp: number;
}

export interface RecordBatch {
  topic: string;
  partition: number;
  /** In offset order, never empty. */
  records: LogRecord[];
}

export interface ReadOptions {
  /** Exclusive upper bound. Reading never waits for records appended after the read began. */
  untilOffset?: number;
  /** Most records per yielded batch. */
  maxBatch?: number;
}

export interface FollowOptions {
  /** Ends the iteration: a wait for new records returns at once, and the iteration with it. */
  signal?: AbortSignal;
  /** Most records per yielded batch. */
  maxBatch?: number;
}

export interface SubscribeOptions {
  groupId: string;
  topics: string[];
  /** Where a partition without a committed offset (and without a start offset) begins: 0, or its end. */
  fromBeginning: boolean;
  /**
   * Checkpoints kept outside the log (e.g. next to the projection in Redis). A number returned here
   * wins over the group's committed offset, so a projection restarts exactly where it last wrote.
   */
  startOffsets?: (topic: string, partition: number) => number | undefined;
  /**
   * Called with one partition's records at a time; batches of one partition arrive in order. The
   * group's offset is committed after the returned promise resolves. If it rejects, nothing of the
   * batch is committed and the subscription ends with that error (see Subscription.done): retry
   * policy belongs to the caller (see ConsumerRunner).
   */
  eachBatch: (batch: RecordBatch) => Promise<void>;
  /**
   * For a subscriber whose sink makes a batch written twice harmless (last-write-wins on the row's
   * version) and keeps its own checkpoint (`startOffsets`): the group's offset is committed after each
   * batch without holding up the next one (commits of batches that finish meanwhile are merged into
   * one), so a commit's round trip is not on the way from append to sink (Kafka; the embedded log's
   * commit is a local write and is always waited for). `stop` still waits for the
   * last commit; a crash or a rebalance may deliver the last batches again. Default false: the next
   * batch waits for the commit of the one before.
   */
  commitInBackground?: boolean;
}

export interface Subscription {
  readonly groupId: string;
  topics(): string[];
  /** Starts consuming more topics without stopping the ones already consumed. */
  addTopics(topics: string[]): Promise<void>;
  removeTopics(topics: string[]): Promise<void>;
  /** Waits for the batch in flight (and its commit), then stops. Idempotent. */
  stop(): Promise<void>;
  /** Resolves when stopped; rejects with the error that ended the subscription otherwise. */
  readonly done: Promise<void>;
}

export interface EventLog {
  /** Idempotent: an existing topic is left as it is. */
  ensureTopic(spec: TopicSpec): Promise<EnsureTopicResult>;
  /** Undefined when the topic does not exist. */
  describeTopic(topic: string): Promise<TopicDescription | undefined>;
  /** Throws LOG_TOPIC_NOT_FOUND for an unknown topic. */
  partitionCount(topic: string): Promise<number>;
  /**
   * Durable once resolved; positions are in the order of `records`, offsets contiguous per partition.
   * Appends land in the order they were called, even when called concurrently.
   */
  append(topic: string, records: AppendRecord[]): Promise<RecordPosition[]>;
  /** Partition → offset the next appended record will get (the high watermark). */
  endOffsets(topic: string): Promise<Map<number, number>>;
  /** Records of one partition from `fromOffset`, without a consumer group (replays, exports). */
  read(topic: string, partition: number, fromOffset: number, options?: ReadOptions): AsyncIterable<LogRecord[]>;
  /**
   * A live tail of one partition, without a consumer group: yields the records from `fromOffset`
   * (at most the partition's end offset) in offset order, then every record as soon as it is
   * appended, until `options.signal` aborts (the iteration then returns). Nothing is committed and
   * nothing is left behind in the log, so it suits short-lived readers (subscriptions, watchers).
   * Throws LOG_TOPIC_NOT_FOUND, LOG_PARTITION_INVALID, LOG_OFFSET_INVALID; LOG_CLOSED if the log closes.
   */
  follow(topic: string, partition: number, fromOffset: number, options?: FollowOptions): AsyncIterable<LogRecord[]>;
  subscribe(options: SubscribeOptions): Promise<Subscription>;
  /** Stops every subscription and releases the log. */
  close(): Promise<void>;
}
