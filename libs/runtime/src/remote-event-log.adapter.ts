import { FeaturelogError } from '@featurelog/domain';
import type {
  AppendRecord,
  EnsureTopicResult,
  EventLog,
  FollowOptions,
  LogRecord,
  ReadOptions,
  RecordPosition,
  Subscription,
  TopicDescription,
  TopicSpec,
} from '@featurelog/log';
import { JsonHttpClient } from './json-http-client';
import { devServerHoldsMessage, type DevServerRecord } from './dev-server-record';
import {
  BRIDGE_MAX_READ_BATCH,
  EVENT_LOG_BRIDGE_PREFIX,
  fromWireRecord,
  toWireAppend,
  type WireError,
  type WireRecord,
} from './event-log-bridge';

/** Records per read request when the caller sets no batch size. */
const DEFAULT_READ_BATCH = 5_000;
/** How often `follow` asks for records appended since its last look, once it has caught up. */
const FOLLOW_POLL_MS = 100;

/**
 * The embedded log held by a running `featurelog dev`, reached through its log bridge: what CLI
 * commands need (provision, append, read, end offsets) with the same durability (an append resolves
 * once the dev process has it on disk). Consumer groups stay inside the dev process: `subscribe` is
 * refused, naming the dev server to use instead.
 */
export class RemoteEventLog implements EventLog {
  private readonly base: string;
  private readonly http: JsonHttpClient;
  /** Appends go one request at a time, so they land in the order they were called (as the port says). */
  private appending: Promise<unknown> = Promise.resolve();

  /** `apiKey`: a key with the `admin` scope, when the dev server's featurelog.yaml configures keys. */
  constructor(
    readonly devServer: DevServerRecord,
    options: { apiKey?: string } = {},
  ) {
    this.base = `${devServer.urls.dev}${EVENT_LOG_BRIDGE_PREFIX}`;
    this.http = new JsonHttpClient({ apiKey: options.apiKey });
  }

  ensureTopic(spec: TopicSpec): Promise<EnsureTopicResult> {
    return this.call('POST', '/ensure-topic', spec);
  }

  async describeTopic(topic: string): Promise<TopicDescription | undefined> {
    const { description } = await this.call<{ description: TopicDescription | null }>('GET', this.topicPath(topic));
    return description ?? undefined;
  }

  async partitionCount(topic: string): Promise<number> {
    return (await this.call<{ partitions: number }>('GET', `${this.topicPath(topic)}/partition-count`)).partitions;
  }

  /** Concurrent HTTP requests may arrive in any order, so appends are sent one at a time, in call order. */
  append(topic: string, records: AppendRecord[]): Promise<RecordPosition[]> {
    const result = this.appending.then(async () => {
      const body = { records: records.map(toWireAppend) };
      return (await this.call<{ positions: RecordPosition[] }>('POST', `${this.topicPath(topic)}/append`, body))
        .positions;
    });
    this.appending = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  async endOffsets(topic: string): Promise<Map<number, number>> {
    const { offsets } = await this.call<{ offsets: Array<[number, number]> }>(
      'GET',
      `${this.topicPath(topic)}/end-offsets`,
    );
    return new Map(offsets);
  }

  async *read(topic: string, partition: number, fromOffset: number, options: ReadOptions = {}) {
    // As the port says: the end is fixed when the read begins, appends after it are not waited for.
    const end = (await this.endOffsets(topic)).get(partition) ?? 0;
    const until = Math.min(options.untilOffset ?? end, end);
    const max = Math.min(options.maxBatch ?? DEFAULT_READ_BATCH, BRIDGE_MAX_READ_BATCH);
    let next = fromOffset;
    while (next < until) {
      const { records } = await this.call<{ records: WireRecord[] }>(
        'GET',
        `${this.topicPath(topic)}/partitions/${partition}/records?from=${next}&until=${until}&max=${max}`,
      );
      if (records.length === 0) return;
      const batch: LogRecord[] = records.map((record) => fromWireRecord(topic, record));
      yield batch;
      next = batch[batch.length - 1]!.offset + 1;
    }
  }

  /** Polls the bridge once caught up: a live tail from another process is rare (serving runs inside dev). */
  async *follow(topic: string, partition: number, fromOffset: number, options: FollowOptions = {}) {
    const { signal } = options;
    const max = Math.min(options.maxBatch ?? DEFAULT_READ_BATCH, BRIDGE_MAX_READ_BATCH);
    const start = (await this.endOffsets(topic)).get(partition);
    if (start === undefined) {
      throw new FeaturelogError('LOG_PARTITION_INVALID', `topic ${topic} has no partition ${partition}`);
    }
    if (!Number.isSafeInteger(fromOffset) || fromOffset < 0 || fromOffset > start) {
      throw new FeaturelogError(
        'LOG_OFFSET_INVALID',
        `cannot follow ${topic}/${partition} from offset ${fromOffset}: its end offset is ${start}`,
      );
    }
    let next = fromOffset;
    while (signal?.aborted !== true) {
      const end = (await this.endOffsets(topic)).get(partition) ?? 0;
      if (next < end) {
        const { records } = await this.call<{ records: WireRecord[] }>(
          'GET',
          `${this.topicPath(topic)}/partitions/${partition}/records?from=${next}&until=${end}&max=${max}`,
        );
        if (records.length > 0) {
          const batch: LogRecord[] = records.map((record) => fromWireRecord(topic, record));
          yield batch;
          next = batch[batch.length - 1]!.offset + 1;
          continue;
        }
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, FOLLOW_POLL_MS);
        signal?.addEventListener('abort', done, { once: true });
        function done() {
          clearTimeout(timer);
          signal?.removeEventListener('abort', done);
          resolve();
        }
      });
    }
  }

  subscribe(): Promise<Subscription> {
    return Promise.reject(
      new FeaturelogError(
        'DEV_SERVER_RUNNING',
        devServerHoldsMessage(
          this.devServer,
          'the embedded log',
          'consumers run inside it (registry, materializer, compactor, serving, jobs) — ' +
            `use its APIs (${this.devServer.urls.dev}/health lists them)`,
        ),
      ),
    );
  }

  async close(): Promise<void> {
    this.http.close();
  }

  private topicPath(topic: string): string {
    return `/topics/${encodeURIComponent(topic)}`;
  }

  private async call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    let response: { status: number; body: T | WireError };
    try {
      response = await this.http.request<T | WireError>(method, `${this.base}${path}`, body);
    } catch (cause) {
      throw new FeaturelogError(
        'LOG_UNAVAILABLE',
        `featurelog dev (pid ${this.devServer.pid}) holds the embedded log, but its API at ${this.devServer.urls.dev} does not answer`,
        { retriable: true, cause },
      );
    }
    if (response.status >= 400) {
      const error = response.body as WireError;
      // A refused key: say what the bridge needs and how a featurelog command is given a key.
      const hint =
        response.status === 401 || response.status === 403
          ? '; the log bridge of featurelog dev needs an API key with the admin scope ' +
            '(featurelog commands take it from FEATURELOG_API_KEY, FEATURELOG_API_KEY_FILE or --api-key-file)'
          : '';
      throw new FeaturelogError(
        error.code,
        `${error.message} (through featurelog dev, pid ${this.devServer.pid})${hint}`,
        { retriable: error.retriable },
      );
    }
    return response.body as T;
  }
}
