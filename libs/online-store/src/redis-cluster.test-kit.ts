import { readFileSync } from 'node:fs';
import Redis from 'ioredis';
import { clusterHealth, stackEnv, waitFor, waitForProcessGone } from '@featurelog/testing';
import { keySlot } from './redis-topology';

/**
 * The Redis Cluster the cluster variants of the int tests run against (FEATURELOG_REDIS_CLUSTER_URL,
 * or the stack's own after `npm run stack -- up --redis-cluster`); a skip message when there is none.
 */
export function redisClusterUnderTest(): { url: string; skip: false } | { url: undefined; skip: string } {
  const url = stackEnv().redisClusterUrl;
  return url === undefined
    ? {
        url: undefined,
        skip: 'no Redis Cluster: set FEATURELOG_REDIS_CLUSTER_URL or run `npm run stack -- up --redis-cluster`',
      }
    : { url, skip: false };
}

export interface ClusterNode {
  id: string;
  host: string;
  port: number;
  master: boolean;
  /** [from, to] ranges, masters only */
  slots: Array<[number, number]>;
  failing: boolean;
}

function hostPort(url: string): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: Number(parsed.port || 6379) };
}

/** CLUSTER NODES as seen by the first node of `seeds` that answers. */
export async function clusterNodes(url: string): Promise<ClusterNode[]> {
  const text = await askAnyNode(url, (redis) => redis.call('cluster', 'nodes') as Promise<string>);
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const fields = line.trim().split(' ');
      const [host, rest] = fields[1]!.split('@')[0]!.split(/:(?=\d+$)/);
      return {
        id: fields[0]!,
        host: host!,
        port: Number(rest),
        master: fields[2]!.includes('master'),
        failing: /fail/.test(fields[2]!) || fields[7] !== 'connected',
        slots: fields
          .slice(8)
          .filter((range) => !range.startsWith('['))
          .map((range) => {
            const [from, to] = range.split('-').map(Number);
            return [from!, to ?? from!] as [number, number];
          }),
      };
    });
}

/** The seed, else any node of the cluster that answers (the seed may be the node a test killed). */
async function askAnyNode<T>(url: string, ask: (redis: Redis) => Promise<T>): Promise<T> {
  const seed = hostPort(url);
  const candidates = [seed, ...Array.from({ length: 5 }, (_, i) => ({ host: seed.host, port: seed.port + i + 1 }))];
  let last: unknown;
  for (const node of candidates) {
    const redis = new Redis({ ...node, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    redis.on('error', () => undefined);
    try {
      await redis.connect();
      return await ask(redis);
    } catch (error) {
      last = error;
    } finally {
      redis.disconnect();
    }
  }
  throw last;
}

/** The master serving `key`'s slot now. */
export async function masterOfKey(url: string, key: string): Promise<ClusterNode> {
  const slot = keySlot(key);
  const nodes = await clusterNodes(url);
  const master = nodes.find(
    (node) => node.master && !node.failing && node.slots.some(([from, to]) => slot >= from && slot <= to),
  );
  if (master === undefined) throw new Error(`no master serves slot ${slot} of ${key}`);
  return master;
}

/**
 * kill -9 of a node's redis-server (its pid from INFO). Only a local node of ours: a redis-server
 * process on this machine. The stack's supervisor starts it again later, as a replica of whoever
 * took over its slots.
 */
export async function killNode(node: { host: string; port: number }): Promise<number> {
  const redis = new Redis({ host: node.host, port: node.port, lazyConnect: true, maxRetriesPerRequest: 0 });
  redis.on('error', () => undefined);
  let pid: number;
  try {
    await redis.connect();
    const info = (await redis.info('server')) as string;
    pid = Number(/^process_id:(\d+)/m.exec(info)?.[1]);
  } finally {
    redis.disconnect();
  }
  const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  if (!command.includes('redis-server') || !command.includes(String(node.port))) {
    throw new Error(`pid ${pid} (${command}) is not a local redis-server on ${node.port}; not killing it`);
  }
  process.kill(pid, 'SIGKILL');
  await waitForProcessGone(pid, { description: `redis-server ${node.port} (pid ${pid}) to die`, timeoutMs: 10_000 });
  return pid;
}

/**
 * Until every node is connected and every master has a replica again: after a kill, the next
 * test may then kill any master without losing slots.
 */
export async function waitForClusterHealthy(url: string, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    async () => {
      const text = await askAnyNode(url, (redis) => redis.call('cluster', 'nodes') as Promise<string>);
      const health = clusterHealth(text);
      if (!health.healthy || health.masters !== 3 || health.replicas !== 3) {
        throw new Error(`not yet: ${JSON.stringify(health)}\n${text}`);
      }
      return true;
    },
    { description: 'the Redis Cluster to have every node back and a replica per master', timeoutMs, intervalMs: 250 },
  );
}
