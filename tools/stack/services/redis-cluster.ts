import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { requireRedisCli, requireRedisServer } from '../preflight';
import {
  clusterHealth,
  PORT_ENV,
  REDIS_CLUSTER_NODES,
  REDIS_CLUSTER_SERVICE,
  STACK_HOST,
  type StackPorts,
} from '../stack-env';
import type { StackService } from '../service';

/**
 * How long a node may be silent before the others mark it failed and its replica takes over.
 * Redis' default is 15 s; tests that kill a master should not wait that long.
 */
export const CLUSTER_NODE_TIMEOUT_MS = Number(process.env.FEATURELOG_REDIS_CLUSTER_NODE_TIMEOUT_MS ?? 2_000);

/**
 * A killed node is started again after this pause (as a process manager would), long enough for its
 * replica to have been promoted first: it then rejoins as the new master's replica, so the cluster
 * again has a replica per master for the next failover.
 */
export const CLUSTER_RESTART_DELAY_MS = CLUSTER_NODE_TIMEOUT_MS * 4;

export function redisClusterPorts(ports: StackPorts): number[] {
  return Array.from({ length: REDIS_CLUSTER_NODES }, (_, i) => ports.redisCluster + i);
}

/**
 * A Redis Cluster of 3 masters with one replica each (`up --redis-cluster`): 6 redis-server processes
 * in cluster mode, kept by one supervising shell (one process group, so `down` stops them all).
 *
 * - `cluster-require-full-coverage no`: while a master is down and not yet replaced, only its slots
 *   fail; the others keep serving.
 * - Append-only file on (fsync left to the OS): a node killed with SIGKILL and started again keeps
 *   what it acknowledged, so a master restarted before its replica was promoted cannot come back
 *   empty and have the replica copy that emptiness.
 * - The ACL user of the plain Redis exists here too, for the authenticated cluster tests.
 */
export const redisCluster: StackService = {
  name: REDIS_CLUSTER_SERVICE,
  dependsOn: [],
  needsJava: false,
  readyTimeoutMs: 30_000,
  stopGraceMs: 10_000,
  ports: (ports) =>
    redisClusterPorts(ports).flatMap((port) => [
      { port, envVar: PORT_ENV.redisCluster, service: `redis cluster node ${port}` },
      { port: port + 10_000, envVar: PORT_ENV.redisCluster, service: `redis cluster bus ${port + 10_000}` },
    ]),
  endpoint: (ports) => `redis://${STACK_HOST}:${ports.redisCluster}`,

  async prepare(ctx) {
    const home = path.join(ctx.stackDir, REDIS_CLUSTER_SERVICE);
    const { redisUsername, redisPassword } = ctx.secure().credentials;
    const ports = redisClusterPorts(ctx.ports);
    for (const port of ports) {
      const dir = path.join(home, String(port));
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(
        path.join(dir, 'redis.conf'),
        [
          '# written by tools/stack on every up',
          `bind ${STACK_HOST}`,
          `port ${port}`,
          `dir ${dir}`,
          'daemonize no',
          'supervised no',
          'protected-mode yes',
          'cluster-enabled yes',
          'cluster-config-file nodes.conf',
          `cluster-node-timeout ${CLUSTER_NODE_TIMEOUT_MS}`,
          'cluster-require-full-coverage no',
          // A replica that lost its master for a while may still take over: the only copy left is better than none.
          'cluster-replica-validity-factor 0',
          'save ""',
          'appendonly yes',
          'appendfsync no',
          'logfile ""',
          `user ${redisUsername} on >${redisPassword} ~* &* +@all`,
          '',
        ].join('\n'),
        { mode: 0o600 },
      );
    }
    const seeds = ports.map((port) => `${STACK_HOST}:${port}`).join(' ');
    const script = path.join(home, 'supervise.sh');
    fs.writeFileSync(
      script,
      `#!/usr/bin/env bash
# written by tools/stack on every up: keeps the cluster's nodes running; creates the cluster once.
set -u
server=${JSON.stringify(requireRedisServer())}
cli=${JSON.stringify(requireRedisCli())}
keep() {
  while :; do
    "$server" ${JSON.stringify(home)}/"$1"/redis.conf
    echo "node $1 exited; starting it again in ${CLUSTER_RESTART_DELAY_MS} ms"
    sleep ${CLUSTER_RESTART_DELAY_MS / 1000}
  done
}
for port in ${ports.join(' ')}; do keep "$port" & done
for port in ${ports.join(' ')}; do
  until "$cli" -h ${STACK_HOST} -p "$port" ping >/dev/null 2>&1; do sleep 0.1; done
done
# A kept data dir (down --keep-data) already knows its cluster; a fresh one has only itself.
if "$cli" -h ${STACK_HOST} -p ${ports[0]} cluster info | grep -q '^cluster_known_nodes:1'; then
  "$cli" --cluster create ${seeds} --cluster-replicas 1 --cluster-yes
fi
wait
`,
      { mode: 0o700 },
    );
    return { command: '/bin/bash', args: [script], cwd: home, env: process.env };
  },

  async probe(ctx) {
    const ports = redisClusterPorts(ctx.ports);
    for (const port of ports) {
      const info = await command(port, ['CLUSTER', 'INFO']);
      if (
        info === undefined ||
        !/^cluster_state:ok\r?$/m.test(info) ||
        !/^cluster_slots_ok:16384\r?$/m.test(info) ||
        !new RegExp(`^cluster_known_nodes:${ports.length}\\r?$`, 'm').test(info)
      )
        return undefined;
    }
    const nodes = await command(ports[0]!, ['CLUSTER', 'NODES']);
    const health = nodes === undefined ? undefined : clusterHealth(nodes);
    return health?.healthy ? `${health.masters} masters, ${health.replicas} replicas, 16384 slots ok` : undefined;
  },
};

/** One RESP command on a fresh connection; resolves the bulk string reply, undefined on anything else. */
function command(port: number, parts: string[]): Promise<string | undefined> {
  const request = `*${parts.length}\r\n${parts.map((p) => `$${Buffer.byteLength(p)}\r\n${p}\r\n`).join('')}`;
  return new Promise((resolve) => {
    const socket = net.connect({ host: STACK_HOST, port });
    let reply = Buffer.alloc(0);
    const done = (result: string | undefined): void => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(1000, () => done(undefined));
    socket.on('error', () => done(undefined));
    socket.once('connect', () => socket.write(request));
    socket.on('data', (chunk: Buffer) => {
      reply = Buffer.concat([reply, chunk]);
      const text = reply.toString('utf8');
      if (!text.startsWith('$')) return done(undefined);
      const header = text.indexOf('\r\n');
      if (header < 0) return;
      const length = Number(text.slice(1, header));
      const body = reply.subarray(Buffer.byteLength(text.slice(0, header)) + 2);
      if (body.length >= length) done(body.subarray(0, length).toString('utf8'));
    });
  });
}
