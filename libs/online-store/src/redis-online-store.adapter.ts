import type { Socket } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { FeaturelogError, type FeatureValue } from '@featurelog/domain';
import type Redis from 'ioredis';
import type { Cluster } from 'ioredis';
import {
  validateProjectName,
  validateReadSelection,
  validateViewName,
  validateWriteBatch,
} from './online-batch-validation';
import {
  ONLINE_LAYOUT,
  type OnlineCheckpoint,
  type OnlineLayoutCheck,
  type OnlineRow,
  type OnlineReadRequest,
  type OnlineStore,
  type OnlineViewValue,
  type OnlineWriteBatch,
  type SelectedReadRequest,
  type StoredViewValue,
  type TopicPartitionOffset,
} from './online-store.port';
import { redisSettingError } from './redis-connection-error';
import { decodeStoredValue } from './stored-feature-value';
import { MsgpackWriter } from './msgpack-writer';
import {
  allStoredTexts,
  decodeNames,
  decodeVersion,
  DELETED_NAMES,
  storedSpansAt,
  storedText,
  viewValueParts,
  writeViewValue,
} from './view-value';
import { WRITE_BATCH_SCRIPT } from './redis-write-batch.script';
import {
  clusterTopology,
  singleNodeTopology,
  writeRowsThenCheckpoint,
  type RedisClusterOptions,
  type RedisTopology,
} from './redis-topology';

export interface RedisOnlineStoreConfig {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…`. */
  url: string;
  /** ACL user (Redis 6+) and its password; a user and password in the URL win over these. */
  username?: string;
  password?: string;
  /** TLS options (ca, cert, key, servername …); a `rediss://` URL alone means TLS with the system's CAs. */
  tls?: ConnectionOptions;
  /** The featurelog.yaml section these options come from, to name settings in errors (default `onlineStore`). */
  settingsSection?: string;
  /** First segment of every key, so several deployments can share one Redis. */
  keyPrefix?: string;
  /** A command unanswered this long fails as ONLINE_STORE_UNAVAILABLE (the serving path must not hang). */
  commandTimeoutMs?: number;
  connectTimeoutMs?: number;
  /**
   * A Redis Cluster behind the URL (one seed node; `nodes` adds more): keys spread over its slots,
   * each write batch and read split per master (redis-topology.ts). `true` takes the defaults.
   */
  cluster?: boolean | RedisClusterOptions;
}

/**
 * Layout (one Redis hash per project and entity, so one HMGET answers every view of an entity):
 *
 *   key   `<prefix>:<project>:{<entityKey>}`   — the braces are the Redis Cluster hash tag: every key
 *         of one entity lands in one slot, whatever helper keys are added beside the hash later.
 *   field `<view>`  → the view's whole row as one binary value (view-value.ts): version digits
 *                     (last-write-wins is one string comparison), expiry flag, feature names, values.
 *
 *   key   `<prefix>:__checkpoint:{<consumer>}` — field `<topic>:<partition>` → next offset.
 *   key   `<prefix>:__layout` → ONLINE_LAYOUT. Layout 1 (field `<view>:<feature>` per feature plus
 *         `<view>:__v`) had no such key: a store with data and without it is not read (see checkLayout).
 *
 * A read is one HMGET of the views' fields per entity (Buffer replies), decoding only the wanted
 * features' texts. The commands of one event-loop turn go out in one socket write.
 *
 * Writes are one EVALSHA of WRITE_BATCH_SCRIPT per batch, the batch packed as one MessagePack argument.
 * On a single Redis node the rows and the checkpoint are atomic.
 *
 * Redis Cluster (`cluster`): a script runs on one node, so each write batch is split per master
 * (one script call per master, in parallel, touching keys of many slots: redis-topology.ts); reads
 * are one HMGET per entity, which the cluster client routes by the key's slot. The checkpoint cannot
 * share a slot with every row of a batch: the rows of every master are written first, each master's
 * write acknowledged by its replica (WAIT) so that a failover cannot lose rows the checkpoint has
 * passed, and then the checkpoint (its own key and slot) moves forward only. A crash in between
 * replays rows, which is harmless: every row write is last-write-wins on a version that includes the
 * log position (writeRowsThenCheckpoint in redis-topology.ts). A master down: reads and writes of its
 * slots fail as ONLINE_STORE_UNAVAILABLE (retriable) until its replica is promoted, while the other
 * slots keep serving. The layout mark is its own key, read and written by its own commands.
 */
export class RedisOnlineStore implements OnlineStore {
  private closed = false;
  private readonly viewNames = new ViewNames();
  private readonly selections = new WeakMap<ReadonlyArray<readonly string[]>, ViewSelection>();
  private queuedReads: QueuedRead[] = [];
  private readonly packed = new MsgpackWriter(64 * 1024);
  /** Set once the store was found in ONLINE_LAYOUT; until then every read and write checks. */
  private layoutReady = false;
  /** When the store was last found in another layout (checks are then spaced, see ensureLayout). */
  private outdatedAt = 0;
  private outdatedFound = '';

  private readonly redis: Redis | Cluster;

  private constructor(
    private readonly topology: RedisTopology,
    private readonly keyPrefix: string,
    private writeScriptSha: string,
  ) {
    this.redis = topology.client;
  }

  static async connect({
    url,
    keyPrefix = 'fl',
    commandTimeoutMs = 2_000,
    connectTimeoutMs = 5_000,
    username,
    password,
    tls,
    settingsSection = 'onlineStore',
    cluster,
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
    const connection = {
      url,
      ...(username !== undefined && { username }),
      ...(password !== undefined && { password }),
      ...(tls !== undefined && { tls }),
      connectTimeoutMs,
      commandTimeoutMs,
      everReady: () => everReady,
    };
    const topology =
      cluster === undefined || cluster === false
        ? singleNodeTopology(connection)
        : clusterTopology(connection, cluster === true ? {} : cluster);
    const redis = topology.client;
    redis.once('ready', () => (everReady = true));
    // Connection errors reach callers as rejected commands; without a listener ioredis also prints them.
    // The first one is kept: a refused AUTH or a failed handshake reaches connect() only as "Connection is closed".
    let connectError: unknown;
    redis.on('error', (error) => (connectError ??= everReady ? undefined : error));
    // A cluster reports each node's failure (a refused AUTH among them) as 'node error', then only
    // "None of startup nodes is available".
    redis.on('node error', (error: unknown) => (connectError ??= everReady ? undefined : error));
    try {
      await redis.connect();
      const writeSha = await topology.loadScript(WRITE_BATCH_SCRIPT);
      return new RedisOnlineStore(topology, keyPrefix, writeSha);
    } catch (error) {
      redis.disconnect();
      const endpoint = redactUrl(url);
      throw (
        redisSettingError(error, endpoint, settingsSection) ??
        (connectError !== undefined ? redisSettingError(connectError, endpoint, settingsSection) : undefined) ??
        toOnlineStoreError(error, `connecting to ${endpoint} (${settingsSection}.url)`)
      );
    }
  }

  async writeBatch(batch: OnlineWriteBatch): Promise<number> {
    this.assertOpen();
    validateWriteBatch(batch);
    const offsets = batch.checkpoint?.offsets ?? [];
    if (batch.rows.length === 0 && offsets.length === 0) return 0;
    if (!this.layoutReady) await this.ensureLayout();
    // The one dispatch point of writes: per master on a cluster, rows before checkpoint (see the class comment).
    return writeRowsThenCheckpoint(
      this.topology,
      batch.rows,
      offsets.length > 0 ? batch.checkpoint : undefined,
      (row) => this.entityHashKey(row.project, row.entityKey),
      (rows, checkpoint, replicated) => {
        const { keys, packed } = this.packWrite(rows, checkpoint);
        return this.runWriteScript(keys, packed, replicated);
      },
    );
  }

  /**
   * One WRITE_BATCH_SCRIPT call for a group of rows (and the checkpoint, if any): its keys (the rows'
   * entity hashes in row order, then the checkpoint hash) and its packed argument. The layout is the
   * script's: each view's field name once, at the end, and per row its whole stored value, built in
   * place in the one packed argument.
   */
  private packWrite(rows: readonly OnlineRow[], checkpoint: OnlineCheckpoint | undefined): WriteCall {
    const offsets = checkpoint?.offsets ?? [];
    const keys: string[] = [];
    const packed = this.packed;
    packed.reset();
    const array = packed.beginArray();
    const viewsAt = packed.placeholder();
    let items = 2;
    const views = new Map<string, number>();
    packed.uint(rows.length);
    for (const row of rows) {
      keys.push(this.entityHashKey(row.project, row.entityKey));
      let view = views.get(row.view);
      if (view === undefined) {
        view = views.size + 1;
        views.set(row.view, view);
      }
      const expiring = row.ttlSeconds !== undefined && row.ttlSeconds > 0;
      packed.uint(view);
      const value = packed.beginBytes();
      if (row.deleted === true) {
        writeViewValue(packed, row, DELETED_NAMES);
      } else {
        writeViewValue(packed, row, this.viewNames.of(row.view, row.features).joined);
      }
      packed.endBytes(value);
      packed.string(expiring ? String(Math.ceil(row.version.eventTimestamp / 1_000) + row.ttlSeconds! * 1_000) : '');
      items += 3;
    }
    packed.uint(offsets.length);
    items++;
    if (offsets.length > 0) {
      keys.push(this.checkpointKey(checkpoint!.consumer));
      for (const { topic, partition, nextOffset } of offsets) {
        packed.string(`${topic}:${partition}`);
        packed.string(String(nextOffset));
      }
      items += 2 * offsets.length;
    }
    // Where the views start, as a Lua index (from 1): right after the `items` elements written so far.
    packed.fillPlaceholder(viewsAt, items + 1);
    packed.uint(views.size);
    items++;
    for (const view of views.keys()) packed.string(view);
    items += views.size;
    packed.endArray(array, items);
    // A copy: the writer's buffer is reused by the next batch while this one may still be queued.
    return { keys, packed: Buffer.from(packed.bytes()) };
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

  async deleteCheckpoint(consumer: string, topics?: readonly string[]): Promise<void> {
    this.assertOpen();
    const key = this.checkpointKey(consumer);
    try {
      if (topics === undefined) {
        await this.redis.del(key);
        return;
      }
      const wanted = new Set(topics);
      const fields = (await this.redis.hkeys(key)).filter((field) =>
        wanted.has(field.slice(0, field.lastIndexOf(':'))),
      );
      if (fields.length > 0) await this.redis.hdel(key, ...fields);
    } catch (error) {
      throw toOnlineStoreError(error, `deleting the checkpoint of ${consumer}`);
    }
  }

  async checkLayout(): Promise<OnlineLayoutCheck> {
    const check = await this.findLayout();
    if (check.current) this.layoutReady = true;
    return check;
  }

  private async findLayout(): Promise<OnlineLayoutCheck> {
    this.assertOpen();
    const layoutKey = this.layoutKey();
    try {
      for (;;) {
        const marked = await this.redis.get(layoutKey);
        if (marked === ONLINE_LAYOUT) return { current: true };
        if (marked !== null)
          return { current: false, found: `${layoutKey} says layout ${marked}, not ${ONLINE_LAYOUT}` };
        const found = await this.someKey();
        if (found !== undefined) return { current: false, found: await this.describeOldKey(found) };
        // An empty store is in every layout: mark it (NX: someone else may be marking it too).
        if ((await this.redis.set(layoutKey, ONLINE_LAYOUT, 'NX')) === 'OK') return { current: true };
      }
    } catch (error) {
      throw toOnlineStoreError(error, 'checking the online store layout');
    }
  }

  async rebuildLayout(): Promise<void> {
    this.assertOpen();
    try {
      // A cluster's SCAN sees one node: every master is scanned. One UNLINK per key: keys of
      // several slots may not share a command on a cluster.
      for (const node of this.topology.masters()) {
        let cursor = '0';
        do {
          const [next, keys] = await node.scan(cursor, 'MATCH', `${escapeGlob(this.keyPrefix)}:*`, 'COUNT', 1_000);
          cursor = next;
          if (keys.length === 0) continue;
          if (!this.topology.isCluster) {
            await node.unlink(...keys);
            continue;
          }
          const pipeline = node.pipeline();
          for (const key of keys) pipeline.unlink(key);
          for (const [error] of (await pipeline.exec()) ?? []) if (error) throw error;
        } while (cursor !== '0');
      }
      await this.redis.set(this.layoutKey(), ONLINE_LAYOUT);
    } catch (error) {
      throw toOnlineStoreError(error, 'rebuilding the online store layout');
    }
    this.layoutReady = true;
  }

  read(project: string, requests: readonly OnlineReadRequest[]): Promise<Array<Array<OnlineViewValue | null>>> {
    return this.readAs(project, requests, decodeSelected);
  }

  readStored(project: string, requests: readonly SelectedReadRequest[]): Promise<Array<Array<StoredViewValue | null>>> {
    for (const request of requests) {
      if (request.features === undefined) {
        throw new FeaturelogError(
          'INVALID_ONLINE_READ',
          `readStored needs the features of each view (${request.entityKey})`,
        );
      }
    }
    return this.readAs(project, requests as readonly OnlineReadRequest[], storedSelected) as Promise<
      Array<Array<StoredViewValue | null>>
    >;
  }

  /** Selected features are turned into values by `fromValue`; whole rows (no features named) are always decoded. */
  private async readAs<T>(
    project: string,
    requests: readonly OnlineReadRequest[],
    fromValue: (value: Buffer, selection: ViewSelection, j: number, spans: Int32Array, at: number) => T | null,
  ): Promise<Array<Array<T | OnlineViewValue | null>>> {
    this.assertOpen();
    validateProjectName(project);
    const selections = new Array<ViewSelection | undefined>(requests.length);
    let spanCount = 0;
    for (let i = 0; i < requests.length; i++) {
      const selection = this.selectionOf(requests[i]!);
      selections[i] = selection;
      if (selection !== undefined) spanCount += selection.spanCount;
    }
    if (requests.length === 0) return [];
    if (!this.layoutReady) await this.ensureLayout();
    let replies: Array<Array<Buffer | null>>;
    try {
      replies = await this.execRead(project, requests);
    } catch (error) {
      throw toOnlineStoreError(error, `reading ${requests.length} entities of ${project}`);
    }
    // The texts' places of every value of the read, in one slice of a shared array (no allocation per read).
    const { spans, at: first } = spanSlab.take(spanCount);
    let at = first;
    const out = new Array<Array<T | OnlineViewValue | null>>(requests.length);
    for (let i = 0; i < requests.length; i++) {
      const values = replies[i]!;
      const selection = selections[i];
      const views = requests[i]!.views;
      const row = new Array<T | OnlineViewValue | null>(views.length);
      for (let j = 0; j < views.length; j++) {
        const value = values[j];
        if (value === null || value === undefined) row[j] = null;
        else if (selection === undefined) row[j] = decodeWhole(value);
        else {
          row[j] = fromValue(value, selection, j, spans, at);
          at += 2 * selection.features[j]!.length;
        }
      }
      out[i] = row;
    }
    return out;
  }

  /**
   * The views' fields of every request, in one round trip: one HMGET per entity. (One script call for
   * many entities did not pay: 100 entities × 5 views read 15 % slower through it, wall time in the
   * serving process, and cost Redis more; bench/online-store/write.bench.ts shows both floors.)
   * Reads issued in the same turn of the event loop (concurrent requests of a busy server) are sent
   * together: one socket write and one reply read for all of them, instead of one each. A lone read
   * waits only for the end of the loop's I/O phase (setImmediate).
   */
  private async execRead(
    project: string,
    requests: readonly OnlineReadRequest[],
  ): Promise<Array<Array<Buffer | null>>> {
    const commands: ReadCommand[] = [];
    const targets: number[] = [];
    for (let i = 0; i < requests.length; i++) {
      const { entityKey, views } = requests[i]!;
      if (views.length === 0) continue;
      const key = this.entityHashKey(project, entityKey);
      commands.push({ keys: [key], run: (redis) => redis.hmgetBuffer(key, ...views) });
      targets.push(i);
    }
    const replies = await this.sendReads(commands);
    const out = new Array<Array<Buffer | null>>(requests.length).fill(NO_VALUES);
    replies.forEach((reply, c) => (out[targets[c]!] = reply as Array<Buffer | null>));
    return out;
  }

  private sendReads(commands: ReadCommand[]): Promise<unknown[]> {
    return new Promise((resolve, reject) => {
      if (this.queuedReads.push({ commands, resolve, reject }) === 1) setImmediate(this.flushReads);
    });
  }

  /**
   * Sends the queued reads' commands as plain commands written through a corked socket (one write),
   * not as an ioredis pipeline: a pipeline object per read made the old generation grow by ~8 kB
   * per request until a major GC, and major GC pauses are what a p99 of a few milliseconds sees.
   */
  private readonly flushReads = (): void => {
    const reads = this.queuedReads;
    this.queuedReads = [];
    // A cluster client has no one socket: its commands go to their slots' nodes uncorked.
    const socket = (this.redis as Partial<Redis>).stream as Partial<Pick<Socket, 'cork' | 'uncork'>> | undefined;
    const several = reads.length > 1 || reads[0]!.commands.length > 1;
    if (several) socket?.cork?.();
    try {
      for (const read of reads) {
        Promise.all(read.commands.map((command) => command.run(this.redis))).then(read.resolve, read.reject);
      }
    } finally {
      if (several) socket?.uncork?.();
    }
  };

  /**
   * The name → index caches of a request that names its features; undefined when it does not.
   * Prepared once per selection: serving passes the same `features` array for every entity row.
   */
  private selectionOf(request: OnlineReadRequest): ViewSelection | undefined {
    const { views, features } = request;
    if (features === undefined) {
      validateReadSelection(views, undefined);
      return undefined;
    }
    const cached = this.selections.get(features);
    if (cached !== undefined && cached.views === views) return cached;
    validateReadSelection(views, features);
    const selection = new ViewSelection(views, features);
    this.selections.set(features, selection);
    return selection;
  }

  /**
   * Fails reads and writes of a store not (yet) in ONLINE_LAYOUT with ONLINE_STORE_REBUILDING. Once
   * found current it is not asked again; while it is not, at most once a second (serving's requests
   * must not each scan Redis).
   */
  private async ensureLayout(): Promise<void> {
    if (Date.now() - this.outdatedAt >= 1_000) {
      const check = await this.checkLayout();
      if (check.current) {
        this.layoutReady = true;
        return;
      }
      this.outdatedAt = Date.now();
      this.outdatedFound = check.found;
    }
    throw rebuilding(this.outdatedFound);
  }

  /** A key of this store other than the layout mark, if there is any. */
  private async someKey(): Promise<string | undefined> {
    const layoutKey = this.layoutKey();
    for (const node of this.topology.masters()) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', `${escapeGlob(this.keyPrefix)}:*`, 'COUNT', 1_000);
        cursor = next;
        const found = keys.find((key) => key !== layoutKey);
        if (found !== undefined) return found;
      } while (cursor !== '0');
    }
    return undefined;
  }

  private async describeOldKey(key: string): Promise<string> {
    let fields: string[] = [];
    if ((await this.redis.type(key)) === 'hash') {
      const [, page] = await this.redis.hscan(key, '0', 'COUNT', 10);
      fields = page.filter((_, i) => i % 2 === 0).slice(0, 3);
    }
    const oldStyle = fields.some((field) => field.endsWith(':__v') || field.includes(':'));
    return (
      `data without the layout mark ${this.layoutKey()}, e.g. ${key}` +
      (fields.length > 0 ? ` with fields ${fields.join(', ')}` : '') +
      (oldStyle ? ' (layout 1: one field per feature)' : '')
    );
  }

  async deleteView(project: string, view: string): Promise<number> {
    this.assertOpen();
    validateProjectName(project);
    validateViewName(view);
    let removed = 0;
    try {
      // SCAN visits each key that exists throughout at least once; HDEL of an absent field is harmless.
      // A cluster's SCAN sees one node: every master is scanned.
      for (const node of this.topology.masters()) {
        let cursor = '0';
        do {
          const [next, keys] = await node.scan(
            cursor,
            'MATCH',
            `${escapeGlob(`${this.keyPrefix}:${project}:{`)}*`,
            'COUNT',
            1_000,
          );
          cursor = next;
          if (keys.length === 0) continue;
          const pipeline = node.pipeline();
          for (const key of keys) pipeline.hdel(key, view);
          for (const [error, count] of (await pipeline.exec()) ?? []) {
            if (error) throw error;
            removed += count as number;
          }
        } while (cursor !== '0');
      }
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

  /** Sends one batch: the script over its keys (entity hashes, then the checkpoint) and its packed argument. */
  private async runWriteScript(keys: readonly string[], packed: Buffer, replicated = false): Promise<number> {
    const args = [String(keys.length), ...keys, packed];
    try {
      return (await this.topology.evalsha(this.writeScriptSha, args, replicated)) as number;
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT'))
        throw toOnlineStoreError(error, 'writing a batch');
    }
    // The script cache was flushed (restart, failover, SCRIPT FLUSH): load it again and retry once.
    try {
      this.writeScriptSha = await this.topology.loadScript(WRITE_BATCH_SCRIPT);
      return (await this.topology.evalsha(this.writeScriptSha, args, replicated)) as number;
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

  private layoutKey(): string {
    return `${this.keyPrefix}:__layout`;
  }

  private assertOpen(): void {
    if (this.closed) throw new FeaturelogError('ONLINE_STORE_CLOSED', 'the redis online store was closed');
  }
}

const NO_VALUES: Array<Buffer | null> = [];

/**
 * Span arrays handed out as slices of one large array, as Buffer's pool does for small buffers: a
 * typed array of its own per read would be memory outside the heap (an allocation and a finalizer per
 * read). A slice is never handed out twice; a full slab is left to the reads that hold slices of it,
 * and to the garbage collector after them (readStored's values are meant to be written out at once,
 * not kept: one kept keeps its slab).
 */
class SpanSlab {
  private slab = new Int32Array(SPAN_SLAB_SIZE);
  private used = 0;

  take(count: number): { spans: Int32Array; at: number } {
    if (count > SPAN_SLAB_SIZE / 4) return { spans: new Int32Array(count), at: 0 };
    if (this.used + count > this.slab.length) {
      this.slab = new Int32Array(SPAN_SLAB_SIZE);
      this.used = 0;
    }
    const at = this.used;
    this.used += count;
    return { spans: this.slab, at };
  }
}

/** Entries of one slab (256 kB): 6 reads of 100 entities × 5 views × 10 features, 3,000 of one view × 10. */
const SPAN_SLAB_SIZE = 64 * 1024;
const spanSlab = new SpanSlab();

function rebuilding(found: string): FeaturelogError {
  return new FeaturelogError(
    'ONLINE_STORE_REBUILDING',
    `the online store is not in layout ${ONLINE_LAYOUT} (${found}): the materializer rebuilds it from the log`,
    { retriable: true },
  );
}

/** Every feature of a stored value; null for a deleted row. */
function decodeWhole(value: Buffer): OnlineViewValue | null {
  const parts = viewValueParts(value);
  if (parts.deleted) return null;
  const names = decodeNames(value, parts);
  const texts = allStoredTexts(value, parts, names.length);
  const features: Record<string, FeatureValue> = {};
  for (let i = 0; i < names.length; i++) features[names[i]!] = decodeStoredValue(texts[i]!);
  return { version: decodeVersion(value, parts.versionEnd), features };
}

/** Where the wanted features' texts of view `j` of a selection are in its value (into `spans` from `at`); null for a deleted row. */
function storedSelected(
  value: Buffer,
  selection: ViewSelection,
  j: number,
  spans: Int32Array,
  at: number,
): StoredViewValue | null {
  const parts = viewValueParts(value);
  if (parts.deleted) return null;
  const index = selection.indexOf(j, value, parts);
  storedSpansAt(value, parts, index.indices, index.last, spans, at);
  return { version: decodeVersion(value, parts.versionEnd), bytes: value, spans, at };
}

function decodeSelected(
  value: Buffer,
  selection: ViewSelection,
  j: number,
  spans: Int32Array,
  at: number,
): OnlineViewValue | null {
  const stored = storedSelected(value, selection, j, spans, at);
  if (stored === null) return null;
  const names = selection.features[j]!;
  const features: Record<string, FeatureValue> = {};
  for (let k = 0; k < names.length; k++) features[names[k]!] = decodeStoredValue(storedText(stored, k));
  return { version: stored.version, features };
}

/** One call of WRITE_BATCH_SCRIPT: its keys and its one packed argument. */
interface WriteCall {
  keys: string[];
  packed: Buffer;
}

/** A command of a read: its keys (to split reads per cluster slot) and how to send it. */
interface ReadCommand {
  keys: string[];
  run: (redis: Redis | Cluster) => Promise<unknown>;
}

/** A read's commands, waiting for the socket write of its turn of the event loop. */
interface QueuedRead {
  commands: ReadCommand[];
  resolve: (replies: unknown[]) => void;
  reject: (error: unknown) => void;
}

/** Where the wanted features of one view sit in stored values with some names (-1: not in them). */
interface NamesIndex {
  /** The stored names' bytes this index is for (a copy). */
  names: Buffer;
  indices: Int32Array;
  /** The greatest index wanted, -1 when none. */
  last: number;
}

/**
 * A read selection (views and the features wanted of each) with, per view, the index of the wanted
 * features among the names of the values last read: a read compares the stored names' bytes with
 * the cached ones and decodes names only when the view's schema changed.
 */
class ViewSelection {
  private readonly indexes: Array<NamesIndex | undefined>;
  /** Span entries a read of the selection needs: two per wanted feature. */
  readonly spanCount: number;

  constructor(
    readonly views: readonly string[],
    readonly features: ReadonlyArray<readonly string[]>,
  ) {
    this.indexes = new Array<NamesIndex | undefined>(views.length);
    this.spanCount = 2 * features.reduce((sum, names) => sum + names.length, 0);
  }

  indexOf(j: number, value: Buffer, parts: ReturnType<typeof viewValueParts>): NamesIndex {
    const cached = this.indexes[j];
    if (
      cached !== undefined &&
      value.compare(cached.names, 0, cached.names.length, parts.namesStart, parts.namesEnd) === 0
    ) {
      return cached;
    }
    const names = decodeNames(value, parts);
    const at = new Map<string, number>();
    names.forEach((name, i) => at.set(name, i));
    const wanted = this.features[j]!;
    const indices = new Int32Array(wanted.length);
    let last = -1;
    for (let k = 0; k < wanted.length; k++) {
      indices[k] = at.get(wanted[k]!) ?? -1;
      last = Math.max(last, indices[k]!);
    }
    const made = { names: Buffer.from(value.subarray(parts.namesStart, parts.namesEnd)), indices, last };
    this.indexes[j] = made;
    return made;
  }
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

/**
 * A view's feature names and their joined form, built once per view and feature list rather than per
 * row: consecutive rows of one view nearly always carry the same features in the same order.
 */
class ViewNames {
  private readonly byView = new Map<string, { names: readonly string[]; joined: string }>();

  of(view: string, features: Record<string, FeatureValue>): { names: readonly string[]; joined: string } {
    const names = Object.keys(features);
    const known = this.byView.get(view);
    if (known !== undefined && sameNames(known.names, names)) return known;
    const made = { names, joined: names.join(',') };
    if (this.byView.size > 10_000) this.byView.clear();
    this.byView.set(view, made);
    return made;
  }
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
