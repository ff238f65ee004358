import { FeaturelogError, type FeatureValue, type RowVersion } from '@featurelog/domain';
import Redis from 'ioredis';
import { validateProjectName, validateViewName, validateWriteBatch } from './online-batch-validation';
import type {
  OnlineReadRequest,
  OnlineStore,
  OnlineViewValue,
  OnlineWriteBatch,
  TopicPartitionOffset,
} from './online-store.port';
import { decodeStoredValue, encodeStoredValue } from './stored-feature-value';
import { WRITE_BATCH_SCRIPT } from './redis-write-batch.script';

export interface RedisOnlineStoreConfig {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…`. */
  url: string;
  /** First segment of every key, so several deployments can share one Redis. */
  keyPrefix?: string;
  /** A command unanswered this long fails as ONLINE_STORE_UNAVAILABLE (the serving path must not hang). */
  commandTimeoutMs?: number;
  connectTimeoutMs?: number;
}

/**
 * Layout (one Redis hash per project and entity, so one HGETALL answers every view of an entity):
 *
 *   key   `<prefix>:<project>:{<entityKey>}`   — the braces are the Redis Cluster hash tag: every key
 *         of one entity lands in one slot, whatever helper keys are added beside the hash later.
 *   field `<view>:<feature>`  → the value in the form of encodeStoredValue (null is the empty string)
 *   field `<view>:__v`        → `<eventTs>|<createdTs or empty>|<partition>|<offset>|<feature,feature,…>`,
 *                                the winning version and the winner's feature names (to read without
 *                                knowing the view's schema, and to drop fields of removed features).
 *
 *   key   `<prefix>:__checkpoint:{<consumer>}` — field `<topic>:<partition>` → next offset.
 *
 * Writes are one EVALSHA of WRITE_BATCH_SCRIPT per batch. On a single Redis node the rows and the
 * checkpoint are atomic. In Redis Cluster a script may only touch keys of one slot, so a batch must
 * first be split per slot, and rows + checkpoint are then atomic only when the checkpoint key shares
 * the rows' slot; that splitting is not done yet: this adapter is correct on a single node.
 */
export class RedisOnlineStore implements OnlineStore {
  private closed = false;

  private constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
    private writeScriptSha: string,
  ) {}

  static async connect({
    url,
    keyPrefix = 'fl',
    commandTimeoutMs = 2_000,
    connectTimeoutMs = 5_000,
  }: RedisOnlineStoreConfig): Promise<RedisOnlineStore> {
    if (!/^rediss?:\/\/[^/]+/.test(url ?? '')) {
      throw new FeaturelogError(
        'INVALID_CONFIG',
        `online store redis url must look like redis://host:port, got ${url}`,
      );
    }
    if (!/^[^:{}]+$/.test(keyPrefix)) {
      throw new FeaturelogError('INVALID_CONFIG', `online store key prefix must not contain : { }, got ${keyPrefix}`);
    }
    let everReady = false;
    const redis = new Redis(url, {
      lazyConnect: true,
      connectTimeout: connectTimeoutMs,
      commandTimeout: commandTimeoutMs,
      // Fail fast while disconnected instead of queueing: callers (serving, the materializer's retry
      // loop) decide what to do with a retriable error, and reconnection continues in the background.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      // How long disconnect() lets a socket drain before destroying it; ioredis' 2 s keeps processes alive.
      disconnectTimeout: 200,
      // The first connection fails fast (the caller decides how to retry start-up); later drops
      // reconnect in the background for as long as the store is open.
      retryStrategy: (attempt) => (everReady ? Math.min(attempt * 100, 2_000) : null),
    });
    redis.once('ready', () => (everReady = true));
    // Connection errors reach callers as rejected commands; without a listener ioredis also prints them.
    redis.on('error', () => undefined);
    try {
      await redis.connect();
      const sha = (await redis.script('LOAD', WRITE_BATCH_SCRIPT)) as string;
      return new RedisOnlineStore(redis, keyPrefix, sha);
    } catch (error) {
      redis.disconnect();
      throw toOnlineStoreError(error, `connecting to ${redactUrl(url)}`);
    }
  }

  async writeBatch(batch: OnlineWriteBatch): Promise<number> {
    this.assertOpen();
    validateWriteBatch(batch);
    if (batch.rows.length === 0 && (batch.checkpoint?.offsets.length ?? 0) === 0) return 0;
    const keys: string[] = [];
    const args: string[] = [String(batch.rows.length)];
    for (const row of batch.rows) {
      keys.push(this.entityHashKey(row.project, row.entityKey));
      const { eventTimestamp, createdTimestamp, position } = row.version;
      const names = Object.keys(row.features);
      const expireAt = row.ttlSeconds ? String(Math.ceil(eventTimestamp / 1_000) + row.ttlSeconds * 1_000) : '';
      args.push(
        row.view,
        String(eventTimestamp),
        createdTimestamp === null ? '' : String(createdTimestamp),
        String(position.partition),
        String(position.offset),
        expireAt,
        encodeVersionField(row.version, names),
        String(names.length),
      );
      for (const name of names) args.push(`${row.view}:${name}`, encodeStoredValue(row.features[name] ?? null));
    }
    const offsets = batch.checkpoint?.offsets ?? [];
    args.push(String(offsets.length));
    if (offsets.length > 0) {
      keys.push(this.checkpointKey(batch.checkpoint!.consumer));
      for (const { topic, partition, nextOffset } of offsets) args.push(`${topic}:${partition}`, String(nextOffset));
    }
    return this.runWriteScript([String(keys.length), ...keys, ...args]);
  }

  async readCheckpoint(consumer: string): Promise<TopicPartitionOffset[]> {
    this.assertOpen();
    let stored: Record<string, string>;
    try {
      stored = await this.redis.hgetall(this.checkpointKey(consumer));
    } catch (error) {
      throw toOnlineStoreError(error, `reading the checkpoint of ${consumer}`);
    }
    return Object.entries(stored)
      .map(([field, nextOffset]) => {
        const colon = field.lastIndexOf(':');
        return {
          topic: field.slice(0, colon),
          partition: Number(field.slice(colon + 1)),
          nextOffset: Number(nextOffset),
        };
      })
      .sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
  }

  async read(project: string, requests: readonly OnlineReadRequest[]): Promise<Array<Array<OnlineViewValue | null>>> {
    this.assertOpen();
    validateProjectName(project);
    for (const request of requests) request.views.forEach(validateViewName);
    if (requests.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const request of requests) pipeline.hgetall(this.entityHashKey(project, request.entityKey));
    let replies: Array<[Error | null, unknown]> | null;
    try {
      replies = await pipeline.exec();
    } catch (error) {
      throw toOnlineStoreError(error, `reading ${requests.length} entities of ${project}`);
    }
    return requests.map((request, i) => {
      const [error, hash] = replies?.[i] ?? [new Error('no reply'), null];
      if (error) throw toOnlineStoreError(error, `reading ${project}/${request.entityKey}`);
      return request.views.map((view) => decodeView(hash as Record<string, string>, view));
    });
  }

  async deleteView(project: string, view: string): Promise<number> {
    this.assertOpen();
    validateProjectName(project);
    validateViewName(view);
    const versionField = `${view}:__v`;
    let removed = 0;
    try {
      // SCAN visits each key that exists throughout at least once; HDEL of absent fields is harmless.
      let cursor = '0';
      do {
        const [next, keys] = await this.redis.scan(
          cursor,
          'MATCH',
          `${escapeGlob(`${this.keyPrefix}:${project}:{`)}*`,
          'COUNT',
          1_000,
        );
        cursor = next;
        if (keys.length === 0) continue;
        const pipeline = this.redis.pipeline();
        for (const key of keys) pipeline.hget(key, versionField);
        const versions = (await pipeline.exec()) ?? [];
        const deletes = this.redis.pipeline();
        keys.forEach((key, i) => {
          const stored = versions[i]?.[1];
          if (typeof stored !== 'string') return;
          const names = featureNamesOf(stored);
          deletes.hdel(key, versionField, ...names.map((name) => `${view}:${name}`));
          removed++;
        });
        await deletes.exec();
      } while (cursor !== '0');
    } catch (error) {
      throw toOnlineStoreError(error, `deleting view ${project}/${view}`);
    }
    return removed;
  }

  async ping(): Promise<void> {
    this.assertOpen();
    try {
      await this.redis.ping();
    } catch (error) {
      throw toOnlineStoreError(error, 'ping');
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }

  private async runWriteScript(args: string[]): Promise<number> {
    try {
      return (await this.redis.call('evalsha', [this.writeScriptSha, ...args])) as number;
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT'))
        throw toOnlineStoreError(error, 'writing a batch');
    }
    // The script cache was flushed (restart, failover, SCRIPT FLUSH): load it again and retry once.
    try {
      this.writeScriptSha = (await this.redis.script('LOAD', WRITE_BATCH_SCRIPT)) as string;
      return (await this.redis.call('evalsha', [this.writeScriptSha, ...args])) as number;
    } catch (error) {
      throw toOnlineStoreError(error, 'writing a batch');
    }
  }

  private entityHashKey(project: string, entityKey: string): string {
    return `${this.keyPrefix}:${project}:{${entityKey}}`;
  }

  private checkpointKey(consumer: string): string {
    return `${this.keyPrefix}:__checkpoint:{${consumer}}`;
  }

  private assertOpen(): void {
    if (this.closed) throw new FeaturelogError('ONLINE_STORE_CLOSED', 'the redis online store was closed');
  }
}

function encodeVersionField({ eventTimestamp, createdTimestamp, position }: RowVersion, names: string[]): string {
  return `${eventTimestamp}|${createdTimestamp ?? ''}|${position.partition}|${position.offset}|${names.join(',')}`;
}

function featureNamesOf(versionField: string): string[] {
  const names = versionField.slice(versionField.lastIndexOf('|') + 1);
  return names === '' ? [] : names.split(',');
}

function decodeView(hash: Record<string, string>, view: string): OnlineViewValue | null {
  const stored = hash[`${view}:__v`];
  if (stored === undefined) return null;
  const [event, created, partition, offset, names] = stored.split('|') as [string, string, string, string, string];
  const features: Record<string, FeatureValue> = {};
  if (names !== '') {
    for (const name of names.split(',')) {
      const text = hash[`${view}:${name}`];
      features[name] = text === undefined ? null : decodeStoredValue(text);
    }
  }
  return {
    version: {
      eventTimestamp: Number(event),
      createdTimestamp: created === '' ? null : Number(created),
      position: { partition: Number(partition), offset: Number(offset) },
    },
    features,
  };
}

/** Replies that mean "the server cannot take this now" rather than "this request is wrong". */
const TRANSIENT_REPLIES = /^(LOADING|BUSY|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|READONLY|OOM|NOREPLICAS)/;

function toOnlineStoreError(error: unknown, doing: string): FeaturelogError {
  if (error instanceof FeaturelogError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const isReply = error instanceof Error && error.name === 'ReplyError';
  if (isReply && !TRANSIENT_REPLIES.test(message)) {
    return new FeaturelogError('ONLINE_STORE_FAILED', `redis refused ${doing}: ${message}`, { cause: error });
  }
  return new FeaturelogError('ONLINE_STORE_UNAVAILABLE', `redis unavailable while ${doing}: ${message}`, {
    retriable: true,
    cause: error,
  });
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
