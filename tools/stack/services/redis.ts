import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { requireRedisServer } from '../preflight';
import { PORT_ENV, STACK_HOST } from '../stack-env';
import type { StackService } from '../service';

/** Our own redis-server process (not the Debian systemd unit), no persistence: a cache for tests. */
export const redis: StackService = {
  name: 'redis',
  dependsOn: [],
  needsJava: false,
  readyTimeoutMs: 15_000,
  stopGraceMs: 10_000,
  ports: (ports) => [{ port: ports.redis, envVar: PORT_ENV.redis, service: 'redis' }],
  endpoint: (ports) => `redis://${STACK_HOST}:${ports.redis}`,

  async prepare(ctx) {
    const home = path.join(ctx.stackDir, 'redis');
    fs.mkdirSync(home, { recursive: true });
    const config = path.join(home, 'redis.conf');
    fs.writeFileSync(
      config,
      [
        '# written by tools/stack on every up',
        `bind ${STACK_HOST}`,
        `port ${ctx.ports.redis}`,
        `dir ${home}`,
        'daemonize no',
        'supervised no',
        'protected-mode yes',
        'save ""',
        'appendonly no',
        'logfile ""',
        '',
      ].join('\n'),
    );
    return { command: requireRedisServer(), args: [config], cwd: home, env: process.env };
  },

  probe(ctx) {
    return new Promise((resolve) => {
      const socket = net.connect({ host: STACK_HOST, port: ctx.ports.redis });
      let reply = '';
      const done = (result: string | undefined): void => {
        socket.destroy();
        resolve(result);
      };
      socket.setTimeout(1000, () => done(undefined));
      socket.on('error', () => done(undefined));
      socket.on('connect', () => socket.write('*1\r\n$4\r\nPING\r\n'));
      socket.on('data', (chunk) => {
        reply += chunk.toString('utf8');
        if (reply.includes('\r\n')) done(reply.startsWith('+PONG') ? 'PING -> PONG' : undefined);
      });
    });
  },
};
