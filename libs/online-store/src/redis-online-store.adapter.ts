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
import type {
  OnlineReadRequest,
  OnlineStore,
  OnlineViewValue,
  OnlineWriteBatch,
  SelectedReadRequest,
  StoredViewValue,
  TopicPartitionOffset,
} from './online-store.port';
import { redisSettingError } from './redis-connection-error';
import { decodeStoredValue, encodeStoredValue } from './stored-feature-value';
import { MsgpackWriter } from './msgpack-writer';
import {
  decodeVersion,
  decodeVersionField,
  encodeVersion,
  DELETED_NAMES,
  featureNamesOf,
  isDeletedVersionField,
} from './redis-version-field';
import { WRITE_BATCH_SCRIPT } from './redis-write-batch.script';
import { READ_FIELDS_SCRIPT, READ_FIELDS_SEPARATOR } from './redis-read.script';
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
 *   field `<view>:<feature>`  → the value in the form of encodeStoredValue (null is the empty string)
 *   field `<view>:__v`        → `<version, 66 digits><e|p>|<feature,feature,…>` (redis-version-field.ts):
 *                                the winning version, fixed-width so that last-write-wins is one string
 *                                comparison, whether it set an expiry, and the winner's feature names
 *                                (to read without knowing the view's schema, and to drop fields of
 *                                removed features).
 *
 *   key   `<prefix>:__checkpoint:{<consumer>}` — field `<topic>:<partition>` → next offset.
 *
 * Reads that name their features (serving) fetch exactly those fields and each view's version field,
 * for all entities of one selection in one EVALSHA of READ_FIELDS_SCRIPT; reads that do not, one
 * HGETALL per entity; all in one pipeline. Both scripts take keys of many entities, hence of many
 * cluster slots: on Redis Cluster, reads and writes are split per master (see below).
 *
 * Writes are one EVALSHA of WRITE_BATCH_SCRIPT per batch, the batch packed as one MessagePack argument. On a single Redis node the rows and the
 * checkpoint are atomic.
 *
 * Redis Cluster (`cluster`): a script runs on one node, so each write batch is split per master
 * (one script call per master, in parallel, touching keys of many slots: redis-topology.ts) and
 * each read too (its answers put back in request order). The checkpoint cannot share a slot with
 * every row of a batch: the rows of every master are written first, each master's write
 * acknowledged by its replica (WAIT) so that a failover cannot lose rows the checkpoint has passed,
 * and then the checkpoint (its own key and slot) moves forward only. A crash in between replays rows, which is harmless: every row write is
 * last-write-wins on a version that includes the log position (writeRowsThenCheckpoint in
 * redis-topology.ts). A master down: reads and writes of its slots fail as ONLINE_STORE_UNAVAILABLE
 * (retriable) until its replica is promoted, while the other slots keep serving.
 */
export class RedisOnlineStore implements OnlineStore {
  private closed = false;
  private readonly viewFields = new ViewFieldNames();
  private readonly fieldSelections = new WeakMap<ReadonlyArray<readonly string[]>, FieldSelection>();
  private queuedReads: QueuedRead[] = [];

  private readonly redis: Redis | Cluster;

  private constructor(
    private readonly topology: RedisTopology,
    private readonly keyPrefix: string,
    private writeScriptSha: string,
    private readScriptSha: string,
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
      const readSha = await topology.loadScript(READ_FIELDS_SCRIPT);
      return new RedisOnlineStore(topology, keyPrefix, writeSha, readSha);
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
    if (batch.rows.length === 0 && (batch.checkpoint?.offsets ?? []).length === 0) return 0;
    // The one dispatch point of writes: per master on a cluster, rows before checkpoint (see the class comment).
    return writeRowsThenCheckpoint(
      this.topology,
      batch.rows,
      batch.checkpoint?.offsets.length ? batch.checkpoint : undefined,
      (row) => this.entityHashKey(row.project, row.entityKey),
      (rows, checkpoint, replicated) => this.runWriteScript(this.writeScriptArgs(rows, checkpoint), replicated),
    );
  }

  /** The write script's arguments for these rows and checkpoint (either may be empty). */
  private writeScriptArgs(
    rows: OnlineWriteBatch['rows'],
    checkpoint: OnlineWriteBatch['checkpoint'],
  ): Array<string | Buffer> {
    const batch = { rows, checkpoint };
    const offsets = checkpoint?.offsets ?? [];
    // The layout is WRITE_BATCH_SCRIPT's: the field names of each view once, at the end, and per row
    // only what differs from row to row.
    const keys: string[] = [];
    const packed = new MsgpackWriter(1_024 + batch.rows.length * 256);
    const array = packed.beginArray();
    const specStart = packed.placeholder();
    let items = 2;
    const specs = new Map<ViewFields, number>();
    packed.uint(batch.rows.length);
    for (const row of batch.rows) {
      keys.push(this.entityHashKey(row.project, row.entityKey));
      // A delete writes its version alone, with names no row has: the script drops every field of the view.
      const fields =
        row.deleted === true ? this.viewFields.deleted(row.view) : this.viewFields.of(row.view, row.features);
      let spec = specs.get(fields);
      if (spec === undefined) {
        spec = specs.size + 1;
        specs.set(fields, spec);
      }
      const expiring = row.ttlSeconds !== undefined && row.ttlSeconds > 0;
      packed.uint(spec);
      packed.string(encodeVersion(row.version, expiring));
      packed.string(expiring ? String(Math.ceil(row.version.eventTimestamp / 1_000) + row.ttlSeconds! * 1_000) : '');
      const { names } = fields;
      for (let i = 0; i < names.length; i++) packed.string(encodeStoredValue(row.features[names[i]!] ?? null));
      items += 3 + names.length;
    }
    packed.uint(offsets.length);
    items++;
    if (offsets.length > 0) {
      keys.push(this.checkpointKey(batch.checkpoint!.consumer));
      for (const { topic, partition, nextOffset } of offsets) {
        packed.string(`${topic}:${partition}`);
        packed.string(String(nextOffset));
      }
      items += 2 * offsets.length;
    }
    // Where the views start, as a Lua index (from 1): right after the `items` elements written so far.
    packed.fillPlaceholder(specStart, items + 1);
    packed.uint(specs.size);
    items++;
    for (const fields of specs.keys()) {
      packed.string(fields.versionField);
      packed.string(fields.joinedNames);
      packed.uint(fields.names.length);
      for (const field of fields.fields) packed.string(field);
      items += 3 + fields.fields.length;
    }
    packed.endArray(array, items);
    return [String(keys.length), ...keys, packed.bytes()];
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

  read(project: string, requests: readonly OnlineReadRequest[]): Promise<Array<Array<OnlineViewValue | null>>> {
    return this.readAs(project, requests, decodeSelectedFields);
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
    return this.readAs(project, requests as readonly OnlineReadRequest[], storedSelectedFields) as Promise<
      Array<Array<StoredViewValue | null>>
    >;
  }

  /** Selected features are turned into values by `fromFields`; whole rows (no features named) are always decoded. */
  private async readAs<T>(
    project: string,
    requests: readonly OnlineReadRequest[],
    fromFields: (values: readonly string[], selection: FieldSelection) => Array<T | null>,
  ): Promise<Array<Array<T | OnlineViewValue | null>>> {
    this.assertOpen();
    validateProjectName(project);
    // Requests of one selection are read by one script call; the others by HGETALL.
    const bySelection = new Map<FieldSelection, number[]>();
    const whole: number[] = [];
    for (let i = 0; i < requests.length; i++) {
      const selection = this.fieldSelectionOf(requests[i]!);
      if (selection === undefined) {
        whole.push(i);
        continue;
      }
      const rows = bySelection.get(selection);
      if (rows === undefined) bySelection.set(selection, [i]);
      else rows.push(i);
    }
    if (requests.length === 0) return [];
    // The one dispatch point of reads: a script call reads keys of one cluster node, so each
    // selection's rows are split per master (one group on a single node); answers go back by row index.
    const batches: Array<[FieldSelection, number[]]> = [];
    for (const [selection, rows] of bySelection) {
      for (const group of this.topology.scriptGroups(rows, (i) => this.entityHashKey(project, requests[i]!.entityKey)))
        batches.push([selection, group]);
    }
    const doing = () => `reading ${requests.length} entities of ${project}`;
    let replies: unknown[];
    try {
      replies = await this.execRead(project, requests, batches, whole);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw toOnlineStoreError(error, doing());
      // The script cache was flushed (restart, failover, SCRIPT FLUSH): load it again and retry once.
      try {
        this.readScriptSha = await this.topology.loadScript(READ_FIELDS_SCRIPT);
        replies = await this.execRead(project, requests, batches, whole);
      } catch (again) {
        throw toOnlineStoreError(again, doing());
      }
    }
    const out = new Array<Array<T | OnlineViewValue | null>>(requests.length);
    let next = 0;
    const ambiguous: Array<{ row: number; selection: FieldSelection }> = [];
    for (const [selection, rows] of batches) {
      if (rows.length === 1) {
        // One entity: read by plain HMGET (see execRead).
        const values = (replies[next++] as Array<string | null>).map((value) => value ?? '');
        out[rows[0]!] = fromFields(values, selection);
        continue;
      }
      const perKey = replies[next++] as string[];
      for (let r = 0; r < rows.length; r++) {
        const values = perKey[r]!.split(READ_FIELDS_SEPARATOR);
        if (values.length === selection.fields.length) out[rows[r]!] = fromFields(values, selection);
        else ambiguous.push({ row: rows[r]!, selection });
      }
    }
    for (const i of whole) {
      const hash = replies[next++] as Record<string, string>;
      out[i] = requests[i]!.views.map((view) => decodeView(hash, view));
    }
    if (ambiguous.length > 0) await this.readAgain(project, requests, ambiguous, out, fromFields);
    return out;
  }

  /** Entities whose joined reply was ambiguous (a value holds the separator), read field by field. */
  private async readAgain<T>(
    project: string,
    requests: readonly OnlineReadRequest[],
    rows: Array<{ row: number; selection: FieldSelection }>,
    out: Array<Array<T | OnlineViewValue | null>>,
    fromFields: (values: readonly string[], selection: FieldSelection) => Array<T | null>,
  ): Promise<void> {
    // One command each rather than a pipeline: a cluster pipeline must stay within one slot.
    let replies: Array<Array<string | null>>;
    try {
      replies = await Promise.all(
        rows.map(({ row, selection }) =>
          this.redis.hmget(this.entityHashKey(project, requests[row]!.entityKey), ...selection.fields),
        ),
      );
    } catch (error) {
      throw toOnlineStoreError(error, `reading ${rows.length} entities of ${project}`);
    }
    rows.forEach(({ row, selection }, i) => {
      const values = replies[i]!;
      out[row] = fromFields(
        (values as Array<string | null>).map((value) => value ?? ''),
        selection,
      );
    });
  }

  /**
   * A script call per selection, then an HGETALL per other request: one round trip. Reads issued in
   * the same turn of the event loop (concurrent requests of a busy server) are sent together: one
   * socket write and one reply read for all of them, instead of one each. A lone read waits only for
   * the end of the loop's I/O phase (setImmediate).
   */
  private execRead(
    project: string,
    requests: readonly OnlineReadRequest[],
    batches: ReadonlyArray<[FieldSelection, number[]]>,
    whole: number[],
  ): Promise<unknown[]> {
    const commands: Array<(redis: Redis | Cluster) => Promise<unknown>> = [];
    for (const [selection, rows] of batches) {
      if (rows.length === 1) {
        // A script call has a fixed cost in Redis (~48 µs against ~12 µs for the HMGET it runs), which
        // only the field names sent once and the joined replies of many entities pay back.
        const args = [this.entityHashKey(project, requests[rows[0]!]!.entityKey), ...selection.fields];
        commands.push((redis) => redis.call('hmget', args));
        continue;
      }
      const sha = this.readScriptSha;
      const args: string[] = [String(rows.length)];
      for (const i of rows) args.push(this.entityHashKey(project, requests[i]!.entityKey));
      for (const field of selection.fields) args.push(field);
      commands.push(() => this.topology.evalsha(sha, args, false));
    }
    for (const i of whole) {
      const key = this.entityHashKey(project, requests[i]!.entityKey);
      commands.push((redis) => redis.hgetall(key));
    }
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
        Promise.all(read.commands.map((command) => command(this.redis))).then(read.resolve, read.reject);
      }
    } finally {
      if (several) socket?.uncork?.();
    }
  };

  /**
   * The HMGET fields of a request that names its features; undefined when it does not (HGETALL).
   * Prepared once per selection: serving passes the same `features` array for every entity row.
   */
  private fieldSelectionOf(request: OnlineReadRequest): FieldSelection | undefined {
    const { views, features } = request;
    if (features === undefined) {
      validateReadSelection(views, undefined);
      return undefined;
    }
    const cached = this.fieldSelections.get(features);
    if (cached !== undefined && cached.views === views) return cached;
    const selection = fieldSelection(views, features);
    this.fieldSelections.set(features, selection);
    return selection;
  }

  async deleteView(project: string, view: string): Promise<number> {
    this.assertOpen();
    validateProjectName(project);
    validateViewName(view);
    const versionField = `${view}:__v`;
    let removed = 0;
    try {
      // SCAN visits each key that exists throughout at least once; HDEL of absent fields is harmless.
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
          for (const key of keys) pipeline.hget(key, versionField);
          const versions = (await pipeline.exec()) ?? [];
          const deletes = node.pipeline();
          keys.forEach((key, i) => {
            const stored = versions[i]?.[1];
            if (typeof stored !== 'string') return;
            const names = featureNamesOf(stored);
            deletes.hdel(key, versionField, ...names.map((name) => `${view}:${name}`));
            removed++;
          });
          await deletes.exec();
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

  private async runWriteScript(args: Array<string | Buffer>, replicated = false): Promise<number> {
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

  private assertOpen(): void {
    if (this.closed) throw new FeaturelogError('ONLINE_STORE_CLOSED', 'the redis online store was closed');
  }
}

function decodeView(hash: Record<string, string>, view: string): OnlineViewValue | null {
  const stored = hash[`${view}:__v`];
  if (stored === undefined || isDeletedVersionField(stored)) return null;
  const { version, names } = decodeVersionField(stored);
  const features: Record<string, FeatureValue> = {};
  for (const name of names) {
    const text = hash[`${view}:${name}`];
    features[name] = text === undefined ? null : decodeStoredValue(text);
  }
  return { version, features };
}

/** The values of `selection.fields` ('' when missing), as stored: per view, null if it has no version field. */
function storedSelectedFields(reply: readonly string[], selection: FieldSelection): Array<StoredViewValue | null> {
  const { views, features } = selection;
  const out = new Array<StoredViewValue | null>(views.length);
  let at = 0;
  for (let j = 0; j < views.length; j++) {
    const count = features[j]!.length;
    const stored = reply[at];
    out[j] =
      stored === '' || stored === undefined || isDeletedVersionField(stored)
        ? null
        : { version: decodeVersion(stored), stored: reply.slice(at + 1, at + 1 + count) };
    at += count + 1;
  }
  return out;
}

/** A read's commands, waiting for the pipeline of its turn of the event loop. */
interface QueuedRead {
  commands: Array<(redis: Redis | Cluster) => Promise<unknown>>;
  resolve: (replies: unknown[]) => void;
  reject: (error: unknown) => void;
}

/** The fields a read of selected features asks for: per view its version field, then its wanted features' fields. */
interface FieldSelection {
  views: readonly string[];
  features: ReadonlyArray<readonly string[]>;
  fields: string[];
}

function fieldSelection(views: readonly string[], features: ReadonlyArray<readonly string[]>): FieldSelection {
  validateReadSelection(views, features);
  const fields: string[] = [];
  views.forEach((view, j) => {
    fields.push(`${view}:__v`);
    for (const name of features[j]!) fields.push(`${view}:${name}`);
  });
  return { views, features, fields };
}

/** The values of `selection.fields` ('' when missing): per view, null if it has no version field (never written). */
function decodeSelectedFields(reply: readonly string[], selection: FieldSelection): Array<OnlineViewValue | null> {
  const { views, features } = selection;
  const out = new Array<OnlineViewValue | null>(views.length);
  let at = 0;
  for (let j = 0; j < views.length; j++) {
    const names = features[j]!;
    const stored = reply[at];
    if (stored === '' || stored === undefined || isDeletedVersionField(stored)) {
      out[j] = null;
    } else {
      const values: Record<string, FeatureValue> = {};
      for (let k = 0; k < names.length; k++) {
        const text = reply[at + 1 + k];
        values[names[k]!] = text === undefined ? null : decodeStoredValue(text);
      }
      out[j] = { version: decodeVersion(stored), features: values };
    }
    at += names.length + 1;
  }
  return out;
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

interface ViewFields {
  names: readonly string[];
  /** `<view>:<name>` for each name. */
  fields: readonly string[];
  joinedNames: string;
  versionField: string;
}

/**
 * The hash field names of a view's rows, built once per view and feature list rather than per row:
 * consecutive rows of one view nearly always carry the same features in the same order.
 */
class ViewFieldNames {
  private readonly byView = new Map<string, ViewFields>();
  private readonly deletes = new Map<string, ViewFields>();

  /** The fields of a deleted row: none, and the names DELETED_NAMES. */
  deleted(view: string): ViewFields {
    let made = this.deletes.get(view);
    if (made === undefined) {
      made = { names: [], fields: [], joinedNames: DELETED_NAMES, versionField: `${view}:__v` };
      if (this.deletes.size > 10_000) this.deletes.clear();
      this.deletes.set(view, made);
    }
    return made;
  }

  of(view: string, features: Record<string, FeatureValue>): ViewFields {
    const names = Object.keys(features);
    const known = this.byView.get(view);
    if (known !== undefined && sameNames(known.names, names)) return known;
    const made: ViewFields = {
      names,
      fields: names.map((name) => `${view}:${name}`),
      joinedNames: names.join(','),
      versionField: `${view}:__v`,
    };
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
