import { mkdir, open, readFile, readdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { type FileHandle } from 'node:fs/promises';
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
import { DirectoryLock } from './directory-lock';
import { type PositionIndex, type RecoveryReport, decodeFrames, encodeFrame, openSegment } from './file-segment';
import { partitionForKey } from './key-partitioner';
import { assertTopicName } from './topic-name';

/**
 * - `always`: every append call is written and fsynced on its own before it resolves.
 * - `batch`: appends that arrive while a write is in progress are written and fsynced together
 *   (group commit); each still resolves only once durable. Same guarantee, far fewer fsyncs.
 * - `never`: written to the OS page cache only (fsync on close); a machine crash can lose a tail.
 */
export type FsyncMode = 'always' | 'batch' | 'never';

export interface FileEventLogOptions {
  directory: string;
  fsync?: FsyncMode;
  /** Most records per batch handed to a subscriber or yielded by read(). */
  maxBatch?: number;
  /** Most bytes read at once for one batch (a batch always holds at least one record). */
  maxBatchBytes?: number;
}

interface PendingWrite {
  frames: Buffer[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

interface PartitionState {
  file: string;
  handle: FileHandle;
  /** Positions of durable records; `index.count` is the high watermark. */
  index: PositionIndex;
  /** Bytes of durable records. */
  size: number;
  /** Offset the next append gets; runs ahead of `index.count` while writes are queued. */
  nextOffset: number;
  queue: PendingWrite[];
  flushing: boolean;
}

interface TopicState {
  name: string;
  config: Record<string, string>;
  partitions: PartitionState[];
  /** Spreads keyless records over partitions. */
  roundRobin: number;
}

type GroupOffsets = Record<string, Record<string, number>>;

/** Resolves every waiter on `fire`, then starts over: lets consumers sleep until something changes. */
class ChangeSignal {
  private resolveCurrent!: () => void;
  private current = this.renew();

  private renew(): Promise<void> {
    return new Promise<void>((resolve) => (this.resolveCurrent = resolve));
  }

  wait(): Promise<void> {
    return this.current;
  }

  fire(): void {
    const resolve = this.resolveCurrent;
    this.current = this.renew();
    resolve();
  }
}

/**
 * The embedded event log: one directory per topic, one segment file per partition, committed
 * group offsets in one small file per group. Owned by one process at a time (LOCK file).
 */
export class FileEventLog implements EventLog {
  /** Torn tails cut off while opening, for the operator's log. */
  readonly recoveries: RecoveryReport[] = [];
  private readonly topics = new Map<string, TopicState>();
  private readonly creating = new Map<string, Promise<EnsureTopicResult>>();
  private readonly groups = new Map<string, GroupOffsets>();
  private readonly groupWrites = new Map<string, Promise<void>>();
  private readonly activeGroups = new Set<string>();
  private readonly subscriptions = new Set<FileSubscription>();
  private readonly changed = new ChangeSignal();
  private closed = false;

  private constructor(
    private readonly lock: DirectoryLock,
    readonly fsync: FsyncMode,
    readonly maxBatch: number,
    readonly maxBatchBytes: number,
  ) {}

  static async open({
    directory,
    fsync = 'batch',
    maxBatch = 500,
    maxBatchBytes = 4 * 1024 * 1024,
  }: FileEventLogOptions): Promise<FileEventLog> {
    if (!['always', 'batch', 'never'].includes(fsync)) {
      throw new FeaturelogError('LOG_CONFIG_INVALID', `fsync must be always, batch or never (got ${String(fsync)})`);
    }
    await mkdir(join(directory, 'topics'), { recursive: true });
    await mkdir(join(directory, 'groups'), { recursive: true });
    const lock = await DirectoryLock.acquire(directory);
    const log = new FileEventLog(lock, fsync, maxBatch, maxBatchBytes);
    try {
      for (const entry of await readdir(log.topicsDirectory, { withFileTypes: true })) {
        if (entry.isDirectory()) await log.loadTopic(entry.name);
      }
    } catch (error) {
      await log.close();
      throw error;
    }
    return log;
  }

  get directory(): string {
    return this.lock.directory;
  }

  private get topicsDirectory(): string {
    return join(this.lock.directory, 'topics');
  }

  private async loadTopic(name: string): Promise<void> {
    const directory = join(this.topicsDirectory, name);
    const metadataFile = join(directory, 'topic.json');
    let metadata: { partitions: number; config: Record<string, string> };
    try {
      metadata = JSON.parse(await readFile(metadataFile, 'utf8')) as typeof metadata;
    } catch (error) {
      // A topic directory without its metadata is a creation interrupted before it finished.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new FeaturelogError('LOG_TOPIC_METADATA_INVALID', `cannot read ${metadataFile}`, { cause: error });
    }
    const partitions: PartitionState[] = [];
    for (let partition = 0; partition < metadata.partitions; partition++) {
      const file = join(directory, `${partition}.log`);
      const { handle, index, size, recovery } = await openSegment(file);
      if (recovery) this.recoveries.push(recovery);
      partitions.push({ file, handle, index, size, nextOffset: index.count, queue: [], flushing: false });
    }
    this.topics.set(name, { name, config: metadata.config, partitions, roundRobin: 0 });
  }

  async ensureTopic(spec: TopicSpec): Promise<EnsureTopicResult> {
    this.assertOpen();
    assertTopicName(spec.name);
    if (!Number.isInteger(spec.partitions) || spec.partitions < 1) {
      throw new FeaturelogError('LOG_TOPIC_SPEC_INVALID', `topic ${spec.name}: partitions must be a positive integer`);
    }
    const existing = this.topics.get(spec.name);
    if (existing) return existingTopicResult(existing.partitions.length, spec.partitions);
    const inFlight = this.creating.get(spec.name);
    if (inFlight) {
      const result = await inFlight;
      return { ...existingTopicResult(result.partitions, spec.partitions) };
    }
    const creation = this.createTopic(spec).finally(() => this.creating.delete(spec.name));
    this.creating.set(spec.name, creation);
    return creation;
  }

  private async createTopic(spec: TopicSpec): Promise<EnsureTopicResult> {
    const directory = join(this.topicsDirectory, spec.name);
    await mkdir(directory, { recursive: true });
    // Segment files first, metadata last: the metadata file is what makes the topic exist.
    for (let partition = 0; partition < spec.partitions; partition++) {
      await (await open(join(directory, `${partition}.log`), 'a')).close();
    }
    await this.writeAtomically(
      join(directory, 'topic.json'),
      JSON.stringify({ partitions: spec.partitions, config: spec.config }),
    );
    await this.loadTopic(spec.name);
    this.changed.fire();
    return { created: true, partitions: spec.partitions, fewerPartitionsThanRequested: false };
  }

  async describeTopic(topic: string): Promise<TopicDescription | undefined> {
    this.assertOpen();
    const state = this.topics.get(topic);
    return state && { name: topic, partitions: state.partitions.length, config: { ...state.config } };
  }

  async partitionCount(topic: string): Promise<number> {
    return this.topicState(topic).partitions.length;
  }

  async append(topic: string, records: AppendRecord[]): Promise<RecordPosition[]> {
    this.assertOpen();
    const state = this.topicState(topic);
    const count = state.partitions.length;
    const timestamp = Date.now();
    const framesByPartition = new Map<number, Buffer[]>();
    const positions = records.map((record): RecordPosition => {
      const partition = this.choosePartition(state, record, count);
      const frame = encodeFrame({
        key: record.key,
        value: record.value,
        headers: headerBytes(record.headers),
        timestamp,
      });
      const frames = framesByPartition.get(partition) ?? [];
      frames.push(frame);
      framesByPartition.set(partition, frames);
      return { partition, offset: state.partitions[partition]!.nextOffset++ };
    });
    await Promise.all(
      [...framesByPartition].map(
        ([partition, frames]) =>
          new Promise<void>((resolve, reject) => {
            const target = state.partitions[partition]!;
            target.queue.push({ frames, resolve, reject });
            void this.flush(target);
          }),
      ),
    );
    return positions;
  }

  private choosePartition(state: TopicState, record: AppendRecord, count: number): number {
    if (record.partition !== undefined) {
      if (!Number.isInteger(record.partition) || record.partition < 0 || record.partition >= count) {
        throw new FeaturelogError(
          'LOG_PARTITION_INVALID',
          `topic ${state.name} has ${count} partitions; cannot append to partition ${record.partition}`,
        );
      }
      return record.partition;
    }
    if (record.key !== null) return partitionForKey(record.key, count);
    return state.roundRobin++ % count;
  }

  /** Drains a partition's queue: one write (and one fsync) per round, many appends per round. */
  private async flush(target: PartitionState): Promise<void> {
    if (target.flushing) return;
    target.flushing = true;
    try {
      while (target.queue.length > 0) {
        const round = this.fsync === 'always' ? target.queue.splice(0, 1) : target.queue.splice(0);
        const frames = round.flatMap((write) => write.frames);
        try {
          await writeAll(target.handle, frames);
          if (this.fsync !== 'never') await target.handle.datasync();
        } catch (error) {
          // Nothing of this round counts: cut the file back and give the offsets back.
          const failure = new FeaturelogError('LOG_APPEND_FAILED', `cannot write to ${target.file}`, {
            retriable: true,
            cause: error,
          });
          const abandoned = [...round, ...target.queue.splice(0)];
          await target.handle.truncate(target.size).catch(() => undefined);
          target.nextOffset = target.index.count;
          abandoned.forEach((write) => write.reject(failure));
          continue;
        }
        for (const frame of frames) {
          target.index.push(target.size);
          target.size += frame.length;
        }
        round.forEach((write) => write.resolve());
        this.changed.fire();
      }
    } finally {
      target.flushing = false;
      this.changed.fire();
    }
  }

  async endOffsets(topic: string): Promise<Map<number, number>> {
    const state = this.topicState(topic);
    return new Map(state.partitions.map((partition, i) => [i, partition.index.count]));
  }

  async *read(topic: string, partition: number, fromOffset: number, options: ReadOptions = {}) {
    const target = this.partitionState(topic, partition);
    const until = Math.min(options.untilOffset ?? Infinity, target.index.count);
    const maxBatch = options.maxBatch ?? this.maxBatch;
    assertOffset(topic, partition, fromOffset);
    let offset = fromOffset;
    while (offset < until) {
      const batch = await this.readBatch(topic, partition, offset, until, maxBatch);
      yield batch;
      offset += batch.length;
    }
  }

  async *follow(topic: string, partition: number, fromOffset: number, options: FollowOptions = {}) {
    const { signal, maxBatch = this.maxBatch } = options;
    const target = this.partitionState(topic, partition);
    assertOffset(topic, partition, fromOffset);
    if (fromOffset > target.index.count) {
      throw new FeaturelogError(
        'LOG_OFFSET_INVALID',
        `cannot follow ${topic}/${partition} from ${fromOffset}: its end offset is ${target.index.count}`,
      );
    }
    const aborted = new Promise<void>((resolve) => signal?.addEventListener('abort', () => resolve(), { once: true }));
    let offset = fromOffset;
    while (signal?.aborted !== true) {
      // Taken before looking, so an append between the look and the wait still wakes us.
      const changed = this.changed.wait();
      this.assertOpen();
      if (offset < target.index.count) {
        const batch = await this.readBatch(topic, partition, offset, Infinity, maxBatch);
        offset += batch.length;
        yield batch;
      } else {
        await Promise.race([changed, aborted]);
      }
    }
  }

  /** Records [from, min(until, from + maxBatch)), fewer when they exceed maxBatchBytes. */
  async readBatch(topic: string, partition: number, from: number, until: number, maxBatch: number) {
    this.assertOpen();
    const target = this.partitionState(topic, partition);
    const durable = target.index.count;
    const start = target.index.at(from);
    const byteEnd = (offset: number) => (offset < durable ? target.index.at(offset) : target.size);
    let to = Math.min(until, durable, from + maxBatch);
    while (to - from > 1 && byteEnd(to) - start > this.maxBatchBytes) to = from + Math.ceil((to - from) / 2);
    const bytes = Buffer.allocUnsafe(byteEnd(to) - start);
    const { bytesRead } = await target.handle.read(bytes, 0, bytes.length, start);
    if (bytesRead !== bytes.length) {
      throw new FeaturelogError('LOG_SEGMENT_UNREADABLE', `short read from ${target.file} at byte ${start}`);
    }
    return decodeFrames(bytes, to - from).map((record, i): LogRecord => ({
      topic,
      partition,
      offset: from + i,
      ...record,
    }));
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    this.assertOpen();
    if (this.activeGroups.has(options.groupId)) {
      throw new FeaturelogError(
        'LOG_GROUP_BUSY',
        `consumer group ${options.groupId} already has a member in this process; the embedded log runs one member per group`,
      );
    }
    options.topics.forEach((topic) => this.topicState(topic));
    await this.groupOffsets(options.groupId);
    this.activeGroups.add(options.groupId);
    const subscription = new FileSubscription(this, options, () => {
      this.activeGroups.delete(options.groupId);
      this.subscriptions.delete(subscription);
    });
    this.subscriptions.add(subscription);
    subscription.start(options.topics);
    return subscription;
  }

  /** @internal used by FileSubscription */
  waitForChange(): Promise<void> {
    return this.changed.wait();
  }

  /** @internal */
  endOffsetsNow(topic: string): number[] {
    return this.topicState(topic).partitions.map((partition) => partition.index.count);
  }

  /** @internal */
  highWatermark(topic: string, partition: number): number {
    return this.partitionState(topic, partition).index.count;
  }

  /** @internal */
  committedOffset(groupId: string, topic: string, partition: number): number | undefined {
    return this.groups.get(groupId)?.[topic]?.[partition];
  }

  private async groupOffsets(groupId: string): Promise<GroupOffsets> {
    let offsets = this.groups.get(groupId);
    if (offsets) return offsets;
    try {
      offsets = JSON.parse(await readFile(this.groupFile(groupId), 'utf8')) as GroupOffsets;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new FeaturelogError('LOG_GROUP_OFFSETS_INVALID', `cannot read ${this.groupFile(groupId)}`, {
          cause: error,
        });
      }
      offsets = {};
    }
    this.groups.set(groupId, offsets);
    return offsets;
  }

  /** @internal Records `nextOffset` as the group's position and persists the group's file. */
  async commit(groupId: string, topic: string, partition: number, nextOffset: number): Promise<void> {
    const offsets = await this.groupOffsets(groupId);
    (offsets[topic] ??= {})[partition] = nextOffset;
    // Writes of one group are chained; each writes the latest state, so none can go backwards.
    const previous = this.groupWrites.get(groupId) ?? Promise.resolve();
    const write = previous
      .catch(() => undefined)
      .then(() => this.writeAtomically(this.groupFile(groupId), JSON.stringify(offsets)));
    this.groupWrites.set(groupId, write);
    await write;
  }

  private groupFile(groupId: string): string {
    return join(this.lock.directory, 'groups', `${encodeURIComponent(groupId)}.json`);
  }

  /** Write to a temporary file, then rename over: a reader sees the old or the new file, whole. */
  private async writeAtomically(file: string, content: string): Promise<void> {
    const temporary = `${file}.tmp`;
    const handle = await open(temporary, 'w');
    try {
      await handle.writeFile(content);
      if (this.fsync !== 'never') await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, file);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Subscribers finish their batch first; what they append meanwhile (a DLQ record) still lands.
    await Promise.allSettled([...this.subscriptions].map((subscription) => subscription.stop()));
    this.closed = true;
    // Wakes the followers, which then end with LOG_CLOSED.
    this.changed.fire();
    await Promise.allSettled([...this.groupWrites.values()]);
    for (const topic of this.topics.values()) {
      for (const partition of topic.partitions) {
        await waitForCondition(() => !partition.flushing && partition.queue.length === 0, this.changed);
        await partition.handle.sync().catch(() => undefined);
        await partition.handle.close().catch(() => undefined);
      }
    }
    this.topics.clear();
    await this.lock.release();
  }

  private assertOpen(): void {
    if (this.closed) throw new FeaturelogError('LOG_CLOSED', `the event log at ${this.lock.directory} is closed`);
  }

  private topicState(topic: string): TopicState {
    this.assertOpen();
    const state = this.topics.get(topic);
    if (!state) {
      throw new FeaturelogError('LOG_TOPIC_NOT_FOUND', `topic ${topic} does not exist in ${this.lock.directory}`);
    }
    return state;
  }

  private partitionState(topic: string, partition: number): PartitionState {
    const state = this.topicState(topic);
    const target = state.partitions[partition];
    if (!target) {
      throw new FeaturelogError(
        'LOG_PARTITION_INVALID',
        `topic ${topic} has ${state.partitions.length} partitions; there is no partition ${partition}`,
      );
    }
    return target;
  }
}

class FileSubscription implements Subscription {
  readonly groupId: string;
  readonly done: Promise<void>;
  /** Topic → next offset to deliver, per partition. */
  private readonly positions = new Map<string, number[]>();
  private readonly wake = new ChangeSignal();
  private stopping = false;
  private settle!: { resolve: () => void; reject: (error: unknown) => void };

  constructor(
    private readonly log: FileEventLog,
    private readonly options: SubscribeOptions,
    private readonly onEnd: () => void,
  ) {
    this.groupId = options.groupId;
    this.done = new Promise<void>((resolve, reject) => (this.settle = { resolve, reject }));
    // `done` is for those who want it; an unobserved failure must not crash the process.
    this.done.catch(() => undefined);
  }

  start(topics: string[]): void {
    this.assign(topics);
    this.run().then(
      () => this.finish(),
      (error: unknown) => this.finish(error),
    );
  }

  private finish(error?: unknown): void {
    this.onEnd();
    if (error === undefined) this.settle.resolve();
    else this.settle.reject(error);
  }

  topics(): string[] {
    return [...this.positions.keys()];
  }

  async addTopics(topics: string[]): Promise<void> {
    for (const topic of topics) await this.log.partitionCount(topic);
    this.assign(topics.filter((topic) => !this.positions.has(topic)));
    this.wake.fire();
  }

  async removeTopics(topics: string[]): Promise<void> {
    topics.forEach((topic) => this.positions.delete(topic));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wake.fire();
    await this.done.catch(() => undefined);
  }

  private assign(topics: string[]): void {
    for (const topic of topics) {
      const partitions = this.log.endOffsetsNow(topic).map((end, partition) => {
        const start =
          this.options.startOffsets?.(topic, partition) ??
          this.log.committedOffset(this.groupId, topic, partition) ??
          (this.options.fromBeginning ? 0 : end);
        assertOffset(topic, partition, start);
        return start;
      });
      this.positions.set(topic, partitions);
    }
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      // Taken before looking, so an append between the look and the wait still wakes us.
      const changed = Promise.race([this.log.waitForChange(), this.wake.wait()]);
      let delivered = false;
      for (const [topic, next] of [...this.positions]) {
        for (let partition = 0; partition < next.length && !this.stopping; partition++) {
          const from = next[partition]!;
          if (from >= this.log.highWatermark(topic, partition)) continue;
          const records = await this.log.readBatch(topic, partition, from, Infinity, this.log.maxBatch);
          await this.options.eachBatch({ topic, partition, records });
          const nextOffset = from + records.length;
          await this.log.commit(this.groupId, topic, partition, nextOffset);
          // The topic may have been removed (and re-added) while the batch ran.
          if (this.positions.get(topic) === next) next[partition] = nextOffset;
          delivered = true;
        }
      }
      if (!delivered && !this.stopping) await changed;
    }
  }
}

function existingTopicResult(partitions: number, requested: number): EnsureTopicResult {
  return { created: false, partitions, fewerPartitionsThanRequested: partitions < requested };
}

function headerBytes(headers: Record<string, string | Buffer> | undefined): Record<string, Buffer> {
  const bytes: Record<string, Buffer> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    bytes[name] = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  }
  return bytes;
}

function assertOffset(topic: string, partition: number, offset: number): void {
  if (!Number.isInteger(offset) || offset < 0) {
    throw new FeaturelogError('LOG_OFFSET_INVALID', `offset ${offset} for ${topic}/${partition} is not a valid offset`);
  }
}

async function writeAll(handle: FileHandle, frames: Buffer[]): Promise<void> {
  let pending = frames;
  while (pending.length > 0) {
    const { bytesWritten } = await handle.writev(pending);
    let skip = bytesWritten;
    const rest: Buffer[] = [];
    for (const frame of pending) {
      if (skip >= frame.length) skip -= frame.length;
      else {
        rest.push(frame.subarray(skip));
        skip = 0;
      }
    }
    pending = rest;
  }
}

async function waitForCondition(condition: () => boolean, signal: ChangeSignal): Promise<void> {
  while (!condition()) await signal.wait();
}
