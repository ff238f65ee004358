import {
  type Admin,
  type Consumer,
  type EachBatchPayload,
  type IHeaders,
  type KafkaMessage,
  type LogEntry,
  type Producer,
  type SASLOptions,
  ConfigResourceTypes,
  Kafka,
  logLevel as KafkaLogLevel,
  Partitioners,
} from 'kafkajs';
import { FeaturelogError } from '@featurelog/domain';
import {
  type AppendRecord,
  type EnsureTopicResult,
  type EventLog,
  type FollowOptions,
  type LogRecord,
  type ReadOptions,
  type RecordPosition,
  type SubscribeOptions,
  type Subscription,
  type TopicDescription,
  type TopicSpec,
} from './event-log.port';
import { kafkaSettingError, tlsPreflight, type KafkaSasl, type KafkaTls } from './kafka-security';
import { partitionForKey } from './key-partitioner';
import { assertTopicName } from './topic-name';
import {
  createKafkaCluster,
  READ_COMMITTED,
  type FetchedMessage,
  type KafkaCluster,
} from './kafkajs-internals.adapter';

export interface KafkaEventLogOptions {
  brokers: string[];
  clientId?: string;
  /** TLS to the brokers (SSL or SASL_SSL listeners). */
  tls?: KafkaTls;
  /** SASL authentication (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512); usually with tls. */
  sasl?: KafkaSasl;
  /** The featurelog.yaml section these options come from, to name settings in errors (default `log`). */
  settingsSection?: string;
  /** kafkajs' own log lines at this level and above go to `logger`. */
  logLevel?: 'ERROR' | 'WARN' | 'INFO' | 'DEBUG';
  logger?: (level: string, line: string) => void;
  connectionTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** An append not acknowledged by then fails as LOG_UNAVAILABLE (retriable; a retry may duplicate). */
  appendTimeoutMs?: number;
  /** How long partition counts are cached for key partitioning. */
  metadataMaxAgeMs?: number;
  /** How long subscribe() and addTopics() wait for the consumer to join its group. */
  groupJoinTimeoutMs?: number;
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  /** Longest a fetch waits on an idle partition; also bounds how long a consumer restart waits. */
  maxWaitTimeMs?: number;
  /**
   * Longest one fetch of follow() waits on an idle partition before asking again. Records are
   * returned as soon as they are appended whatever this is; it only sets the idle request rate.
   */
  followMaxWaitMs?: number;
  /** Most records yielded at once by read(). */
  maxBatch?: number;
}

/**
 * kafkajs' level number → name. A function, not a table built when this file loads: the compiled CLI
 * requires kafkajs only once a binding of it is used (tools/build/build.ts), and a command on the
 * embedded log must not pay for loading it.
 */
function levelName(level: number): string {
  const names: Record<number, string> = {
    [KafkaLogLevel.ERROR]: 'ERROR',
    [KafkaLogLevel.WARN]: 'WARN',
    [KafkaLogLevel.INFO]: 'INFO',
    [KafkaLogLevel.DEBUG]: 'DEBUG',
  };
  return names[level] ?? String(level);
}

/** ConfigSource DYNAMIC_TOPIC_CONFIG: a value set on the topic itself. */
const TOPIC_CONFIG_SOURCE = 1;

/**
 * The event log on Kafka, through kafkajs. Appends use an idempotent producer (acks=all, one
 * request in flight), so broker-side retries never duplicate or reorder a partition's records.
 */
export class KafkaEventLog implements EventLog {
  private readonly kafka: Kafka;
  private producer: Producer;
  private readonly admin: Admin;
  private readonly partitionCounts = new Map<string, { count: number; at: number }>();
  private readonly roundRobin = new Map<string, number>();
  private readonly subscriptions = new Set<KafkaSubscription>();
  private readCluster?: Promise<KafkaCluster>;
  /** Cluster clients of running follow() iterations, disconnected on close. */
  private readonly followClusters = new Set<KafkaCluster>();
  private closed = false;
  /** The tuning in force; TLS and SASL are left out so that no secret is reachable from here. */
  readonly settings: Required<Omit<KafkaEventLogOptions, 'logger' | 'tls' | 'sasl' | 'settingsSection'>>;

  private constructor(options: KafkaEventLogOptions) {
    const {
      brokers,
      clientId = 'featurelog',
      logLevel = 'WARN',
      logger = (level: string, line: string) => console.error(`[kafkajs ${level}] ${line}`),
      connectionTimeoutMs = 3_000,
      requestTimeoutMs = 30_000,
      appendTimeoutMs = 30_000,
      metadataMaxAgeMs = 30_000,
      groupJoinTimeoutMs = 60_000,
      sessionTimeoutMs = 30_000,
      heartbeatIntervalMs = 3_000,
      maxWaitTimeMs = 500,
      followMaxWaitMs = 250,
      maxBatch = 500,
    } = options;
    if (brokers.length === 0 || brokers.some((broker) => !/^[^:\s]+:\d+$/.test(broker))) {
      throw new FeaturelogError(
        'LOG_CONFIG_INVALID',
        `Kafka brokers must be host:port entries (got ${JSON.stringify(brokers)})`,
      );
    }
    this.settings = {
      brokers,
      clientId,
      logLevel,
      connectionTimeoutMs,
      requestTimeoutMs,
      appendTimeoutMs,
      metadataMaxAgeMs,
      groupJoinTimeoutMs,
      sessionTimeoutMs,
      heartbeatIntervalMs,
      maxWaitTimeMs,
      followMaxWaitMs,
      maxBatch,
    };
    this.kafka = new Kafka({
      clientId,
      brokers,
      ...(options.tls !== undefined && { ssl: options.tls }),
      ...(options.sasl !== undefined && { sasl: { ...options.sasl } as SASLOptions }),
      connectionTimeout: connectionTimeoutMs,
      requestTimeout: requestTimeoutMs,
      logLevel: KafkaLogLevel[logLevel],
      // Quiet by default, never silent: warnings and errors still reach the operator.
      logCreator:
        () =>
        ({ namespace, level, log }: LogEntry) => {
          const { message, ...extra } = log;
          // Every error answer of the protocol is logged by the connection, then handled above it
          // (retried, or thrown to our caller as a FeaturelogError): logging it here is only noise.
          if (namespace === 'Connection' && message.startsWith('Response ')) return;
          logger(levelName(level), `${namespace}: ${message} ${JSON.stringify(extra)}`);
        },
    });
    this.producer = this.newProducer();
    this.admin = this.kafka.admin();
  }

  private newProducer(): Producer {
    return this.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
  }

  /**
   * After a broker restart the idempotent producer's sequence numbers can be out of step with the
   * broker's for good (OUT_OF_ORDER_SEQUENCE_NUMBER, UNKNOWN_PRODUCER_ID): kafkajs never recovers
   * from that, so the producer is replaced (a new producer id starts a new sequence) and the append
   * reported as retriable. A retried batch may then be appended twice, which the projections'
   * last-write-wins makes harmless.
   */
  private async replaceProducer(): Promise<void> {
    const old = this.producer;
    this.producer = this.newProducer();
    await old.disconnect().catch(() => undefined);
    await this.producer.connect();
  }

  /** Connects the producer and the admin client; fails with LOG_UNAVAILABLE if no broker answers. */
  static async connect(options: KafkaEventLogOptions): Promise<KafkaEventLog> {
    const log = new KafkaEventLog(options);
    const section = options.settingsSection ?? 'log';
    try {
      if (options.tls !== undefined) {
        await tlsPreflight(options.brokers, options.tls, log.settings.connectionTimeoutMs, section);
      }
      await Promise.all([log.producer.connect(), log.admin.connect()]);
    } catch (error) {
      await log.close().catch(() => undefined);
      const where = options.brokers.join(',');
      throw (
        kafkaSettingError(error, where, section) ??
        kafkaError(error, `cannot connect to Kafka at ${where} (${section}.brokers)`)
      );
    }
    return log;
  }

  async ensureTopic(spec: TopicSpec): Promise<EnsureTopicResult> {
    this.assertOpen();
    assertTopicName(spec.name);
    const existing = await this.call('list topics', () => this.admin.listTopics());
    if (existing.includes(spec.name)) {
      const partitions = await this.partitionCount(spec.name, { fresh: true });
      return { created: false, partitions, fewerPartitionsThanRequested: partitions < spec.partitions };
    }
    const created = await this.call(`create topic ${spec.name}`, () =>
      this.admin.createTopics({
        waitForLeaders: true,
        topics: [
          {
            topic: spec.name,
            numPartitions: spec.partitions,
            configEntries: Object.entries(spec.config).map(([name, value]) => ({ name, value })),
          },
        ],
      }),
    );
    const partitions = created ? spec.partitions : await this.partitionCount(spec.name, { fresh: true });
    return { created, partitions, fewerPartitionsThanRequested: partitions < spec.partitions };
  }

  async describeTopic(topic: string): Promise<TopicDescription | undefined> {
    this.assertOpen();
    const topics = await this.call('list topics', () => this.admin.listTopics());
    if (!topics.includes(topic)) return undefined;
    const partitions = await this.partitionCount(topic, { fresh: true });
    const described = await this.call(`describe configs of ${topic}`, () =>
      this.admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }],
      }),
    );
    const config: Record<string, string> = {};
    for (const entry of described.resources[0]?.configEntries ?? []) {
      if ((entry as { configSource?: number }).configSource === TOPIC_CONFIG_SOURCE) {
        config[entry.configName] = entry.configValue;
      }
    }
    return { name: topic, partitions, config };
  }

  async partitionCount(topic: string, { fresh = false }: { fresh?: boolean } = {}): Promise<number> {
    this.assertOpen();
    const cached = this.partitionCounts.get(topic);
    if (!fresh && cached && Date.now() - cached.at < this.settings.metadataMaxAgeMs) return cached.count;
    const topics = await this.call('list topics', () => this.admin.listTopics());
    if (!topics.includes(topic)) {
      throw new FeaturelogError('LOG_TOPIC_NOT_FOUND', `topic ${topic} does not exist on Kafka`);
    }
    const metadata = await this.call(`fetch metadata of ${topic}`, () =>
      this.admin.fetchTopicMetadata({ topics: [topic] }),
    );
    const count = metadata.topics[0]?.partitions.length ?? 0;
    this.partitionCounts.set(topic, { count, at: Date.now() });
    return count;
  }

  /**
   * Appends run one at a time, in call order: the port promises that records appended by one
   * caller after another land in that order, which concurrent kafkajs sends do not guarantee
   * (each waits for metadata first, and batches of different sends may overtake each other).
   */
  append(topic: string, records: AppendRecord[]): Promise<RecordPosition[]> {
    const result = this.appending.then(() => this.appendNow(topic, records));
    this.appending = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  private appending: Promise<void> = Promise.resolve();

  private async appendNow(topic: string, records: AppendRecord[]): Promise<RecordPosition[]> {
    this.assertOpen();
    if (records.length === 0) return [];
    const count = await this.partitionCount(topic);
    // Partitions are chosen here, not by kafkajs, because each record's offset is derived from its
    // partition's base offset and its rank among that partition's records in this request.
    const partitions = records.map((record) => {
      if (record.partition !== undefined) {
        if (!Number.isInteger(record.partition) || record.partition < 0 || record.partition >= count) {
          throw new FeaturelogError(
            'LOG_PARTITION_INVALID',
            `topic ${topic} has ${count} partitions; cannot append to partition ${record.partition}`,
          );
        }
        return record.partition;
      }
      if (record.key !== null) return partitionForKey(record.key, count);
      const next = this.roundRobin.get(topic) ?? 0;
      this.roundRobin.set(topic, next + 1);
      return next % count;
    });
    const send = this.producer.send({
      topic,
      acks: -1,
      messages: records.map((record, i) => ({
        key: record.key,
        value: record.value,
        headers: record.headers,
        partition: partitions[i],
      })),
    });
    let metadata: Awaited<typeof send>;
    try {
      metadata = await this.call(`append to ${topic}`, () =>
        withTimeout(send, this.settings.appendTimeoutMs, `append to ${topic}`),
      );
    } catch (error) {
      if (!producerSequenceLost(error)) throw error;
      await this.replaceProducer().catch(() => undefined);
      throw new FeaturelogError(
        'LOG_UNAVAILABLE',
        `append to ${topic} failed because the broker lost the producer's sequence (after a restart); the producer was replaced, retry the append`,
        { retriable: true, cause: error },
      );
    }
    const baseOffsets = new Map(metadata.map((entry) => [entry.partition, Number(entry.baseOffset)]));
    const rank = new Map<number, number>();
    return partitions.map((partition) => {
      const base = baseOffsets.get(partition);
      if (base === undefined) {
        throw new FeaturelogError('LOG_APPEND_FAILED', `Kafka acknowledged no offset for ${topic}/${partition}`, {
          retriable: true,
        });
      }
      const seen = rank.get(partition) ?? 0;
      rank.set(partition, seen + 1);
      return { partition, offset: base + seen };
    });
  }

  async endOffsets(topic: string): Promise<Map<number, number>> {
    this.assertOpen();
    await this.partitionCount(topic);
    const what = `fetch end offsets of ${topic}`;
    for (let attempt = 1; ; attempt++) {
      try {
        const offsets = await this.admin.fetchTopicOffsets(topic);
        return new Map(offsets.map((entry) => [entry.partition, Number(entry.high)]));
      } catch (error) {
        // kafkajs' fetchTopicOffsets fails with a TypeError ("Cannot destructure property
        // 'partitions' of 'low.pop(...)'") when a broker answers ListOffsets for none of the
        // partitions, as one can for a topic created a moment ago whose leaders it does not know
        // yet: a transient state, retried with backoff before the error reaches the caller.
        if (!(error instanceof TypeError) || attempt === END_OFFSETS_ATTEMPTS) throw kafkaError(error, what);
        await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** attempt));
      }
    }
  }

  async *read(topic: string, partition: number, fromOffset: number, options: ReadOptions = {}) {
    const end = (await this.endOffsets(topic)).get(partition);
    if (end === undefined) {
      throw new FeaturelogError('LOG_PARTITION_INVALID', `topic ${topic} has no partition ${partition}`);
    }
    if (!Number.isInteger(fromOffset) || fromOffset < 0) {
      throw new FeaturelogError('LOG_OFFSET_INVALID', `offset ${fromOffset} for ${topic}/${partition} is not valid`);
    }
    const until = Math.min(options.untilOffset ?? Infinity, end);
    const maxBatch = options.maxBatch ?? this.settings.maxBatch;
    let offset = fromOffset;
    let emptyFetches = 0;
    while (offset < until) {
      const { messages, nextOffset } = await this.fetchPartition(
        await this.clusterForReads(),
        topic,
        partition,
        offset,
        this.settings.maxWaitTimeMs,
      );
      if (nextOffset <= offset) {
        // Below the high watermark a fetch returns data; an empty answer means a moved leader.
        if (++emptyFetches > 20) {
          throw new FeaturelogError('LOG_UNAVAILABLE', `no records from ${topic}/${partition} at ${offset}`, {
            retriable: true,
          });
        }
        continue;
      }
      emptyFetches = 0;
      const records = messages
        .filter((message) => Number(message.offset) >= offset && Number(message.offset) < until)
        .map((message) => toLogRecord(topic, partition, message));
      offset = nextOffset;
      for (let i = 0; i < records.length; i += maxBatch) yield records.slice(i, i + maxBatch);
    }
  }

  /**
   * One fetch from the partition leader, without a consumer group. kafkajs has no public API for
   * this (its consumer always joins a group), so this uses its cluster client directly, through the
   * one file that fences kafkajs internals (kafkajs-internals.adapter.ts).
   */
  private async fetchPartition(
    cluster: KafkaCluster,
    topic: string,
    partition: number,
    offset: number,
    maxWaitTimeMs: number,
    signal?: AbortSignal,
  ): Promise<{ messages: FetchedMessage[]; nextOffset: number }> {
    for (let attempt = 0; ; attempt++) {
      try {
        await cluster.addTargetTopic(topic);
        const leaders = cluster.findLeaderForPartitions(topic, [partition]);
        const nodeId = Object.keys(leaders)[0];
        if (nodeId === undefined) throw new FeaturelogError('LOG_UNAVAILABLE', `no leader for ${topic}/${partition}`);
        const broker = await cluster.findBroker({ nodeId });
        const { responses } = await broker.fetch({
          maxWaitTime: maxWaitTimeMs,
          minBytes: 1,
          maxBytes: 16 * 1024 * 1024,
          isolationLevel: READ_COMMITTED,
          topics: [{ topic, partitions: [{ partition, fetchOffset: String(offset), maxBytes: 4 * 1024 * 1024 }] }],
        });
        const raw = responses[0]?.partitions[0]?.messages ?? [];
        const last = raw[raw.length - 1];
        return {
          // Control records (transaction markers) take offsets but are not data.
          messages: raw.filter((message) => !message.isControlRecord),
          nextOffset: last ? Number(last.offset) + 1 : offset,
        };
      } catch (error) {
        const mapped = kafkaError(error, `read ${topic}/${partition} at ${offset}`);
        if (this.closed || signal?.aborted === true || !mapped.retriable || attempt >= 5) throw mapped;
        await cluster.refreshMetadata().catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
      }
    }
  }

  private clusterForReads(): Promise<KafkaCluster> {
    this.readCluster ??= this.connectCluster();
    return this.readCluster;
  }

  private async connectCluster(): Promise<KafkaCluster> {
    const cluster = createKafkaCluster(this.kafka, {
      allowAutoTopicCreation: false,
      isolationLevel: READ_COMMITTED,
      metadataMaxAge: this.settings.metadataMaxAgeMs,
    });
    try {
      await cluster.connect();
    } catch (error) {
      throw kafkaError(error, `connect to Kafka at ${this.settings.brokers.join(',')}`);
    }
    return cluster;
  }

  /**
   * Long-polling fetches (minBytes 1, so records come back as soon as they are appended) on a
   * cluster client of its own: a broker answers one connection's requests in order, so a fetch
   * waiting on an idle partition would otherwise hold up read() and every other follow(). Aborting
   * disconnects that client, which ends a pending fetch at once.
   */
  async *follow(topic: string, partition: number, fromOffset: number, options: FollowOptions = {}) {
    const { signal, maxBatch = this.settings.maxBatch } = options;
    const aborted = () => signal?.aborted === true;
    const end = (await this.endOffsets(topic)).get(partition);
    if (end === undefined) {
      throw new FeaturelogError('LOG_PARTITION_INVALID', `topic ${topic} has no partition ${partition}`);
    }
    if (!Number.isInteger(fromOffset) || fromOffset < 0 || fromOffset > end) {
      throw new FeaturelogError(
        'LOG_OFFSET_INVALID',
        `cannot follow ${topic}/${partition} from ${fromOffset}: its end offset is ${end}`,
      );
    }
    if (aborted()) return;
    const cluster = await this.connectCluster();
    this.followClusters.add(cluster);
    const disconnect = () => void cluster.disconnect().catch(() => undefined);
    signal?.addEventListener('abort', disconnect, { once: true });
    try {
      let offset = fromOffset;
      while (!aborted()) {
        let fetched: { messages: FetchedMessage[]; nextOffset: number };
        try {
          fetched = await this.fetchPartition(cluster, topic, partition, offset, this.settings.followMaxWaitMs, signal);
        } catch (error) {
          if (aborted()) return;
          this.assertOpen();
          throw error;
        }
        const records = fetched.messages
          .filter((message) => Number(message.offset) >= offset)
          .map((message) => toLogRecord(topic, partition, message));
        offset = Math.max(offset, fetched.nextOffset);
        for (let i = 0; i < records.length; i += maxBatch) yield records.slice(i, i + maxBatch);
      }
    } finally {
      signal?.removeEventListener('abort', disconnect);
      this.followClusters.delete(cluster);
      await cluster.disconnect().catch(() => undefined);
    }
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    this.assertOpen();
    for (const topic of options.topics) await this.partitionCount(topic, { fresh: true });
    const subscription = new KafkaSubscription(
      this.kafka,
      this.settings,
      options,
      (topics) => this.assertTopicsExist(topics),
      () => this.subscriptions.delete(subscription),
    );
    this.subscriptions.add(subscription);
    try {
      await subscription.start();
    } catch (error) {
      await subscription.stop();
      throw error;
    }
    return subscription;
  }

  private async assertTopicsExist(topics: string[]): Promise<void> {
    for (const topic of topics) await this.partitionCount(topic, { fresh: true });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.subscriptions].map((subscription) => subscription.stop()));
    const cluster = this.readCluster;
    await Promise.allSettled([
      this.producer.disconnect(),
      this.admin.disconnect(),
      cluster?.then((c) => c.disconnect()),
      ...[...this.followClusters].map((c) => c.disconnect()),
    ]);
  }

  private assertOpen(): void {
    if (this.closed) throw new FeaturelogError('LOG_CLOSED', 'the Kafka event log is closed');
  }

  private async call<T>(what: string, operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw kafkaError(error, what);
    }
  }
}

/** Attempts of endOffsets when kafkajs gets an incomplete ListOffsets answer (about 1.5 s in all). */
const END_OFFSETS_ATTEMPTS = 5;

const SEQUENCE_LOST = new Set(['OUT_OF_ORDER_SEQUENCE_NUMBER', 'UNKNOWN_PRODUCER_ID', 'INVALID_PRODUCER_EPOCH']);

/** Whether an error (or one of its causes) says the broker no longer accepts this producer's sequence. */
function producerSequenceLost(error: unknown): boolean {
  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 5; depth++) {
    const type = (current as { type?: unknown }).type;
    if (typeof type === 'string' && SEQUENCE_LOST.has(type)) return true;
    if (/out of order sequence number|unknown producer id|producer epoch/i.test(current.message)) return true;
    current = (current as { cause?: unknown }).cause ?? (current as { originalError?: unknown }).originalError;
  }
  return false;
}

class KafkaSubscription implements Subscription {
  readonly groupId: string;
  readonly done: Promise<void>;
  private readonly subscribed: Set<string>;
  private consumer?: Consumer;
  /** commitInBackground: the next offset per partition not committed yet, and the commit loop running. */
  private readonly pendingCommits = new Map<string, { topic: string; partition: number; offset: string }>();
  private committing?: Promise<void>;
  /** Restarts run one after another. */
  private restarts: Promise<void> = Promise.resolve();
  /** Partitions whose start offset was already taken from `startOffsets`. */
  private readonly seeded = new Set<string>();
  private stopping = false;
  private failure?: unknown;
  private settle!: { resolve: () => void; reject: (error: unknown) => void };
  private ended = false;

  constructor(
    private readonly kafka: Kafka,
    private readonly settings: KafkaEventLog['settings'],
    private readonly options: SubscribeOptions,
    private readonly assertTopicsExist: (topics: string[]) => Promise<void>,
    private readonly onEnd: () => void,
  ) {
    this.groupId = options.groupId;
    this.subscribed = new Set(options.topics);
    this.done = new Promise<void>((resolve, reject) => (this.settle = { resolve, reject }));
    this.done.catch(() => undefined);
  }

  topics(): string[] {
    return [...this.subscribed];
  }

  start(): Promise<void> {
    return this.restart();
  }

  async addTopics(topics: string[]): Promise<void> {
    const added = topics.filter((topic) => !this.subscribed.has(topic));
    if (added.length === 0) return;
    await this.assertTopicsExist(added);
    added.forEach((topic) => this.subscribed.add(topic));
    // kafkajs cannot change a running consumer's topics: the consumer is replaced. Offsets were
    // committed batch by batch, so the new one resumes exactly where the old one stopped.
    await this.restart();
  }

  async removeTopics(topics: string[]): Promise<void> {
    const before = this.subscribed.size;
    topics.forEach((topic) => this.subscribed.delete(topic));
    if (this.subscribed.size !== before) await this.restart();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.restarts.catch(() => undefined);
    await this.disconnect();
    this.end();
  }

  private restart(): Promise<void> {
    const run = this.restarts.then(async () => {
      await this.disconnect();
      if (this.stopping || this.failure !== undefined || this.subscribed.size === 0) return;
      await this.run([...this.subscribed]);
    });
    this.restarts = run.catch(() => undefined);
    return run;
  }

  private async disconnect(): Promise<void> {
    const consumer = this.consumer;
    this.consumer = undefined;
    // The commits of batches already handled go out before the group is left (its partitions' next owner reads them).
    await this.committing;
    await consumer?.disconnect().catch(() => undefined);
  }

  /**
   * Commits in order, without holding up the batches: what batches finished while a commit was in
   * flight goes out in the next one, merged (the greatest offset per partition). A failed commit is
   * left to the next one (a rebalance that failed it reaches kafkajs through the heartbeat too).
   */
  private commitLater(consumer: Consumer, topic: string, partition: number, offset: string): void {
    this.pendingCommits.set(`${topic}/${partition}`, { topic, partition, offset });
    this.committing ??= (async () => {
      while (this.pendingCommits.size > 0) {
        const offsets = [...this.pendingCommits.values()];
        this.pendingCommits.clear();
        await consumer.commitOffsets(offsets).catch(() => undefined);
      }
      this.committing = undefined;
    })();
  }

  private async run(topics: string[]): Promise<void> {
    const consumer = this.kafka.consumer({
      groupId: this.groupId,
      sessionTimeout: this.settings.sessionTimeoutMs,
      heartbeatInterval: this.settings.heartbeatIntervalMs,
      maxWaitTimeInMs: this.settings.maxWaitTimeMs,
      allowAutoTopicCreation: false,
    });
    this.consumer = consumer;
    let joined!: () => void;
    let crashed!: (error: unknown) => void;
    const ready = new Promise<void>((resolve, reject) => ((joined = resolve), (crashed = reject)));
    ready.catch(() => undefined);
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      // Seeks must happen here, synchronously, before the first fetch of the new assignment.
      for (const [topic, partitions] of Object.entries(payload.memberAssignment)) {
        for (const partition of partitions) {
          const key = `${topic}/${partition}`;
          if (this.seeded.has(key)) continue;
          this.seeded.add(key);
          const start = this.options.startOffsets?.(topic, partition);
          if (start !== undefined) consumer.seek({ topic, partition, offset: String(start) });
        }
      }
      joined();
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      const error = kafkaError(payload.error, `consumer group ${this.groupId}`);
      crashed(error);
      if (!payload.restart) this.fail(error);
    });
    try {
      await consumer.connect();
      await consumer.subscribe({ topics, fromBeginning: this.options.fromBeginning });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: (payload) => this.deliver(consumer, payload),
      });
      await withTimeout(ready, this.settings.groupJoinTimeoutMs, `join consumer group ${this.groupId}`);
    } catch (error) {
      throw kafkaError(error, `start consumer group ${this.groupId} on ${topics.join(',')}`);
    }
  }

  private async deliver(consumer: Consumer, { batch, resolveOffset, heartbeat, isStale }: EachBatchPayload) {
    if (this.failure !== undefined || !this.subscribed.has(batch.topic) || batch.messages.length === 0) return;
    const records = batch.messages.map((message) => toLogRecord(batch.topic, batch.partition, message));
    try {
      await this.options.eachBatch({ topic: batch.topic, partition: batch.partition, records });
    } catch (error) {
      // Nothing resolved or committed: the batch stays where it was for whoever consumes next.
      consumer.pause([{ topic: batch.topic }]);
      this.fail(error);
      return;
    }
    if (isStale()) return;
    const last = batch.messages[batch.messages.length - 1]!;
    resolveOffset(last.offset);
    const next = String(Number(last.offset) + 1);
    if (this.options.commitInBackground === true && this.consumer === consumer) {
      this.commitLater(consumer, batch.topic, batch.partition, next);
    } else {
      // Also a batch that ends while its consumer is leaving: committed before the group is left, after
      // any earlier commit still in flight (so an offset never goes back).
      await this.committing;
      await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: next }]);
    }
    await heartbeat();
  }

  private fail(error: unknown): void {
    if (this.failure !== undefined) return;
    this.failure = error;
    // Not awaited: disconnecting waits for the batch in flight, which may be the caller.
    void this.disconnect().then(() => this.end());
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.onEnd();
    if (this.failure !== undefined) this.settle.reject(this.failure);
    else this.settle.resolve();
  }
}

function toLogRecord(topic: string, partition: number, message: KafkaMessage): LogRecord {
  return {
    topic,
    partition,
    offset: Number(message.offset),
    key: message.key ?? null,
    value: message.value ?? null,
    headers: headerBytes(message.headers),
    timestamp: Number(message.timestamp),
  };
}

function headerBytes(headers: IHeaders | undefined): Record<string, Buffer> {
  const bytes: Record<string, Buffer> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    // A repeated header arrives as an array; the last one written wins, as in a map.
    const single = Array.isArray(value) ? value[value.length - 1] : value;
    if (single !== undefined) bytes[name] = typeof single === 'string' ? Buffer.from(single, 'utf8') : single;
  }
  return bytes;
}

const UNAVAILABLE_ERRORS = new Set([
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSRequestTimeoutError',
  'KafkaJSNumberOfRetriesExceeded',
  'KafkaJSBrokerNotFound',
  'KafkaJSMetadataNotLoaded',
  'KafkaJSLockTimeout',
]);

/** An error and its causes, outermost first (kafkajs wraps the error that made it give up). */
function* causeChain(error: unknown): Generator<{ name?: string; type?: string; retriable?: boolean }> {
  for (let current: unknown = error, depth = 0; typeof current === 'object' && current !== null && depth < 5; depth++) {
    yield current as { name?: string; type?: string; retriable?: boolean };
    const wrapped = current as { cause?: unknown; originalError?: unknown };
    current = wrapped.cause ?? wrapped.originalError;
  }
}

/**
 * Maps a kafkajs error to a FeaturelogError that says whether retrying can help. The whole cause chain
 * counts: kafkajs gives up on a connection error after its own retries with a KafkaJSNonRetriableError
 * ("non-retriable" for kafkajs, which will not retry again) whose cause is the KafkaJSConnectionError;
 * for our caller that is still "Kafka unavailable, retry later".
 */
function kafkaError(error: unknown, what: string): FeaturelogError {
  if (error instanceof FeaturelogError) return error;
  // Credentials or certificates that stop working while running (rotated, expired) are named too.
  const setting = kafkaSettingError(error, what);
  if (setting) return setting;
  const reason = (error as { message?: string } | undefined)?.message ?? String(error);
  const chain = [...causeChain(error)];
  if (chain.some((cause) => cause.type === 'UNKNOWN_TOPIC_OR_PARTITION')) {
    return new FeaturelogError('LOG_TOPIC_NOT_FOUND', `${what}: ${reason}`, { cause: error });
  }
  if (chain.some((cause) => UNAVAILABLE_ERRORS.has(cause.name ?? '') || cause.retriable === true)) {
    return new FeaturelogError('LOG_UNAVAILABLE', `${what}: Kafka unavailable (${reason})`, {
      retriable: true,
      cause: error,
    });
  }
  return new FeaturelogError('LOG_REQUEST_FAILED', `${what}: ${reason}`, { cause: error });
}

async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new FeaturelogError('LOG_UNAVAILABLE', `${what}: no answer from Kafka within ${timeoutMs} ms`, {
            retriable: true,
          }),
        ),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
