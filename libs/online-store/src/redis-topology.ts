import { createHash } from 'node:crypto';
import type { ConnectionOptions } from 'node:tls';
import { FeaturelogError } from '@featurelog/domain';
import Redis, { Cluster } from 'ioredis';

/**
 * Where the online store's keys live: one Redis node, or a Redis Cluster. The adapter speaks to this
 * and never asks which one it is, except through the few places below that differ.
 *
 * On a cluster a script runs on one node, and by default may touch keys of one hash slot only. One
 * call per slot would cost a script call per row of a batch over many entities (2,000 rows over
 * 5,000 entities: ~2,000 slots, a tenth of a single node's throughput, measured), so scripts run
 * with Redis 7's `allow-cross-slot-keys` flag: a call declares one key (which routes it) and takes
 * every key it touches from its arguments (CROSS_SLOT_PROLOGUE puts them back in KEYS), and Redis
 * refuses one that is not on the node. Hence
 * - a write batch is split per master (`scriptGroups`), one script call per master, in parallel; each
 *   call is followed on the same node by WAIT for `replicaAcks` replicas (`evalsha` with
 *   `replicated`), and a write a replica did not acknowledge fails as retriable: a failover may
 *   promote that replica;
 * - the checkpoint lives in its own slot, so it is not written in the rows' scripts: see
 *   `writeRowsThenCheckpoint`;
 * - a read is split per master the same way and its answers put back in request order by the caller;
 * - a call that reaches a node no longer serving a key (a failover or resharding the client has not
 *   seen yet) fails as retriable, and the slot map is fetched again.
 * Keys of a slot being resharded (MIGRATING) are not supported: the store expects a stable slot map
 * apart from failovers.
 */
export interface RedisTopology {
  readonly client: Redis | Cluster;
  readonly isCluster: boolean;
  /**
   * Items whose keys one script call may touch, each group in the items' order: all of them on a
   * single node; on a cluster, those whose slots one master serves.
   */
  scriptGroups<T>(items: readonly T[], keyOf: (item: T) => string): T[][];
  /**
   * EVALSHA of a script loaded by loadScript, `args` as for EVALSHA (numkeys, keys, argv): keys of one
   * group of scriptGroups. `replicated`: on a cluster, also waits for the replicas of the node that
   * ran it (see above). Rejects with Redis' own error for NOSCRIPT, so the caller can reload and retry.
   */
  evalsha(sha: string, args: ReadonlyArray<string | Buffer>, replicated: boolean): Promise<unknown>;
  /** Loads a script on every node that may run it (all masters of a cluster); resolves its SHA1. */
  loadScript(script: string): Promise<string>;
  /** Every node holding keys, for SCAN (a cluster's SCAN sees one node only). */
  masters(): Redis[];
}

export interface RedisClusterOptions {
  /** More seed nodes beside the URL (`redis://host:port`): any one that answers is enough. */
  nodes?: string[];
  /**
   * Replicas that must hold a master's rows before the checkpoint may pass them (WAIT after each
   * master's script call). 0 turns the wait off: a failover may then lose rows behind a checkpoint.
   * The price of 1 with one replica per master: after a failover the promoted master has no replica
   * until the lost node comes back, and writes to its slots fail (retriably) until then; two
   * replicas per master keep them going.
   */
  replicaAcks?: number;
  /** How long each master's write waits for those replicas; a write not acknowledged by then fails as retriable. */
  replicaAckTimeoutMs?: number;
}

export const DEFAULT_REPLICA_ACKS = 1;
export const DEFAULT_REPLICA_ACK_TIMEOUT_MS = 2_000;

export interface TopologyConnection {
  url: string;
  username?: string;
  password?: string;
  tls?: ConnectionOptions;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  /** reconnect in the background once the first connection was made, never before */
  everReady: () => boolean;
}

/** A single node: everything in one slot group, scripts and checkpoint atomic together as before. */
export function singleNodeTopology(connection: TopologyConnection): RedisTopology {
  const { url, username, password, tls, connectTimeoutMs, commandTimeoutMs, everReady } = connection;
  const redis = new Redis(url, {
    ...(username !== undefined && { username }),
    ...(password !== undefined && { password }),
    ...(tls !== undefined && { tls }),
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
    retryStrategy: (attempt) => (everReady() ? Math.min(attempt * 100, 2_000) : null),
  });
  return {
    client: redis,
    isCluster: false,
    scriptGroups: (items) => (items.length === 0 ? [] : [items.slice()]),
    evalsha: (sha, args) => redis.call('evalsha', [sha, ...args]),
    loadScript: async (script) => (await redis.script('LOAD', script)) as string,
    masters: () => [redis],
  };
}

export function clusterTopology(connection: TopologyConnection, options: RedisClusterOptions): RedisTopology {
  const { url, username, password, tls, connectTimeoutMs, commandTimeoutMs, everReady } = connection;
  const replicaAcks = options.replicaAcks ?? DEFAULT_REPLICA_ACKS;
  const replicaAckTimeoutMs = options.replicaAckTimeoutMs ?? DEFAULT_REPLICA_ACK_TIMEOUT_MS;
  const seeds = [url, ...(options.nodes ?? [])].map(seedNode);
  const credentials = {
    ...(username !== undefined && { username }),
    ...(password !== undefined && { password }),
    // The URL's own user and password, as the single-node client reads them from the URL.
    ...seeds[0]!.credentials,
  };
  const cluster = new Cluster(
    seeds.map(({ host, port }) => ({ host, port })),
    {
      lazyConnect: true,
      // Commands for a slot whose master is being replaced wait (retryDelayOnFailover, bounded by the
      // command timeout) for the new slot map instead of failing at once; other slots are not held up.
      enableOfflineQueue: true,
      retryDelayOnFailover: 200,
      retryDelayOnClusterDown: 200,
      retryDelayOnTryAgain: 100,
      slotsRefreshTimeout: connectTimeoutMs,
      // A promoted replica is found by the MOVED or the closed connection that follows a failover,
      // and by this periodic refresh for slots nobody asked for yet.
      slotsRefreshInterval: 5_000,
      clusterRetryStrategy: (attempt) => (everReady() ? Math.min(attempt * 100, 2_000) : null),
      // TLS certificates name the host the client was given, not the address the cluster announces.
      ...(tls !== undefined && { dnsLookup: (address, callback) => callback(null, address) }),
      redisOptions: {
        ...credentials,
        ...((tls !== undefined || seeds[0]!.tls) && { tls: tls ?? {} }),
        connectTimeout: connectTimeoutMs,
        commandTimeout: commandTimeoutMs,
        maxRetriesPerRequest: 1,
        disconnectTimeout: 200,
      },
    },
  );
  return {
    client: cluster,
    isCluster: true,
    scriptGroups: (items, keyOf) => groupByMaster(cluster, items, keyOf),
    async evalsha(sha, args, replicated) {
      // The first key is the one declared (it routes the call); CROSS_SLOT_PROLOGUE reads all of them from ARGV.
      const firstKey = args[1]!;
      const crossSlotArgs = ['1', firstKey, ...args];
      try {
        if (!replicated || replicaAcks === 0) return await cluster.call('evalsha', [sha, ...crossSlotArgs]);
        // The script, then WAIT on the same node, in one round trip: a pipeline on the node owning the
        // first key's slot (by keySlot: ioredis' own slot function disagrees with Redis on keys like `{}}`).
        const node = masterOfSlot(cluster, keySlot(String(firstKey)));
        if (node === undefined) throw new Error('CLUSTERDOWN no known master serves the slot');
        const replies = (await node
          .pipeline()
          .call('evalsha', [sha, ...crossSlotArgs])
          .call('wait', String(replicaAcks), String(replicaAckTimeoutMs))
          .exec())!;
        const [scriptError, result] = replies[0]!;
        if (scriptError) throw scriptError;
        const [waitError, acknowledged] = replies[1]!;
        if (waitError) throw waitError;
        if ((acknowledged as number) < replicaAcks) {
          throw new FeaturelogError(
            'ONLINE_STORE_UNAVAILABLE',
            `redis cluster: ${acknowledged as number} of ${replicaAcks} replica(s) acknowledged a write within ${replicaAckTimeoutMs} ms (a failover could lose it; the batch is retried)`,
            { retriable: true },
          );
        }
        return result;
      } catch (error) {
        throw slotMapError(cluster, error);
      }
    },
    async loadScript(script) {
      const crossSlot = CROSS_SLOT_PROLOGUE + script;
      // Every master that exists now; a replica promoted later answers NOSCRIPT once, and the caller loads again.
      await Promise.all(cluster.nodes('master').map((node) => node.script('LOAD', crossSlot)));
      return createHash('sha1').update(crossSlot).digest('hex');
    },
    masters: () => cluster.nodes('master'),
  };
}

/**
 * Rows first, then the checkpoint — the order that makes a cluster safe without a transaction
 * spanning slots:
 * 1. every master's rows, one script call per master in parallel, each acknowledged by its replicas;
 * 2. only when all of them succeeded, the checkpoint (its own key, its own slot), which the script
 *    moves forward only.
 * A crash or failure between 1 and 2 leaves rows written and the checkpoint where it was: the next
 * run replays those rows, which changes nothing, because every row write is last-write-wins on a
 * version that includes the row's log position. A failover after 2 cannot lose rows the checkpoint
 * passed, because their replica had them before 2 began.
 *
 * On a single node `write` gets all rows and the checkpoint together (one atomic script call).
 * Resolves how many rows won.
 */
export async function writeRowsThenCheckpoint<Row, Checkpoint>(
  topology: RedisTopology,
  rows: readonly Row[],
  checkpoint: Checkpoint | undefined,
  keyOf: (row: Row) => string,
  write: (rows: readonly Row[], checkpoint: Checkpoint | undefined, replicated: boolean) => Promise<number>,
): Promise<number> {
  if (!topology.isCluster) return write(rows, checkpoint, false);
  const won = await Promise.all(topology.scriptGroups(rows, keyOf).map((group) => write(group, undefined, true)));
  if (checkpoint !== undefined) await write([], checkpoint, true);
  return won.reduce((sum, n) => sum + n, 0);
}

/**
 * Put before a script on a cluster: the call declares one key and passes ARGV = numkeys, keys…,
 * argv…; these locals give the script body its usual KEYS and ARGV (locals shadow the globals for
 * the rest of the chunk). The flag lets it touch the undeclared keys, all on this node.
 */
export const CROSS_SLOT_PROLOGUE = `#!lua flags=allow-cross-slot-keys
local KEYS, ARGV = (function(a)
  local n = tonumber(a[1])
  local keys, argv = {}, {}
  for i = 1, n do keys[i] = a[i + 1] end
  for i = n + 2, #a do argv[#argv + 1] = a[i] end
  return keys, argv
end)(ARGV)
`;

/** Replies that mean the client's slot map is stale: retriable, and the map is fetched again. */
const STALE_SLOT_MAP = /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN|CROSSSLOT) |non local key/;

function slotMapError(cluster: Cluster, error: unknown): unknown {
  if (!(error instanceof Error) || !STALE_SLOT_MAP.test(error.message)) return error;
  void cluster.refreshSlotsCache();
  return new FeaturelogError(
    'ONLINE_STORE_UNAVAILABLE',
    `redis cluster: a node no longer serves these keys (${error.message}); the slot map is refreshed, retry`,
    { retriable: true, cause: error },
  );
}

function groupByMaster<T>(cluster: Cluster, items: readonly T[], keyOf: (item: T) => string): T[][] {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const slot = keySlot(keyOf(item));
    // A slot without a known master goes alone: its call fails as retriable and the map is refreshed.
    const owner = cluster.slots[slot]?.[0] ?? `slot ${slot}`;
    const group = groups.get(owner);
    if (group === undefined) groups.set(owner, [item]);
    else group.push(item);
  }
  return [...groups.values()];
}

function masterOfSlot(cluster: Cluster, slot: number): Redis | undefined {
  const owner = cluster.slots[slot]?.[0];
  if (owner === undefined) return undefined;
  return cluster.nodes('master').find((node) => `${node.options.host}:${node.options.port}` === owner);
}

/**
 * The hash slot Redis gives a key (CRC16 of the key, or of its hash tag: the bytes between the first
 * `{` and the first `}` after it, when there are any). Written here because cluster-key-slot 1.1
 * hashes a key like `p:{}}` differently from Redis, which would send its script to the wrong node.
 */
export function keySlot(key: string): number {
  const bytes = Buffer.from(key, 'utf8');
  let from = 0;
  let to = bytes.length;
  const open = bytes.indexOf(0x7b);
  if (open >= 0) {
    const close = bytes.indexOf(0x7d, open + 1);
    if (close > open + 1) {
      from = open + 1;
      to = close;
    }
  }
  let crc = 0;
  for (let i = from; i < to; i++) {
    crc ^= bytes[i]! << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc & 0x3fff;
}

interface SeedNode {
  host: string;
  port: number;
  tls: boolean;
  credentials: { username?: string; password?: string };
}

function seedNode(url: string): SeedNode {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new FeaturelogError(
      'INVALID_CONFIG',
      `online store redis cluster node must look like redis://host:port, got ${url}`,
    );
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new FeaturelogError(
      'INVALID_CONFIG',
      `online store redis cluster node must look like redis://host:port, got ${url}`,
    );
  }
  const credentials: SeedNode['credentials'] = {};
  if (parsed.username !== '') credentials.username = decodeURIComponent(parsed.username);
  if (parsed.password !== '') credentials.password = decodeURIComponent(parsed.password);
  return {
    host: parsed.hostname.replace(/^\[|\]$/g, ''),
    port: parsed.port === '' ? 6379 : Number(parsed.port),
    tls: parsed.protocol === 'rediss:',
    credentials,
  };
}
