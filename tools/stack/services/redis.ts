import * as fs from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
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
  ports: (ports) => [
    { port: ports.redis, envVar: PORT_ENV.redis, service: 'redis' },
    { port: ports.redisTls, envVar: PORT_ENV.redisTls, service: 'redis TLS' },
  ],
  endpoint: (ports) => `redis://${STACK_HOST}:${ports.redis}`,

  async prepare(ctx) {
    const home = path.join(ctx.stackDir, 'redis');
    fs.mkdirSync(home, { recursive: true });
    const config = path.join(home, 'redis.conf');
    const secure = ctx.secure();
    const { redisUsername, redisPassword } = secure.credentials;
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
        // The secured side, beside the plain port (whose default user stays open for the plain tests):
        // TLS on tls-port, and an ACL user as managed Redis has.
        `tls-port ${ctx.ports.redisTls}`,
        `tls-cert-file ${secure.certFile}`,
        `tls-key-file ${secure.keyFile}`,
        `tls-ca-cert-file ${secure.caFile}`,
        'tls-auth-clients no',
        `user ${redisUsername} on >${redisPassword} ~* &* +@all`,
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    return { command: requireRedisServer(), args: [config], cwd: home, env: process.env };
  },

  async probe(ctx) {
    const plain = await ping(net.connect({ host: STACK_HOST, port: ctx.ports.redis }), []);
    if (plain === undefined) return undefined;
    // The TLS port with the ACL user: AUTH then PING, so both the certificate and the user are proven.
    const { caFile, credentials } = ctx.secure();
    const secured = await ping(
      tls.connect({ host: STACK_HOST, port: ctx.ports.redisTls, ca: fs.readFileSync(caFile) }),
      ['AUTH', credentials.redisUsername, credentials.redisPassword],
    );
    return secured === undefined ? undefined : `${plain}; TLS with the ACL user: PING -> PONG`;
  },
};

/** RESP: an optional first command (its +OK awaited), then PING; resolves `PING -> PONG` or undefined. */
function ping(socket: net.Socket, first: string[]): Promise<string | undefined> {
  const command = (parts: string[]) =>
    `*${parts.length}\r\n${parts.map((p) => `$${Buffer.byteLength(p)}\r\n${p}\r\n`).join('')}`;
  return new Promise((resolve) => {
    let reply = '';
    const done = (result: string | undefined): void => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(1000, () => done(undefined));
    socket.on('error', () => done(undefined));
    socket.once(socket instanceof tls.TLSSocket ? 'secureConnect' : 'connect', () =>
      socket.write((first.length > 0 ? command(first) : '') + command(['PING'])),
    );
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      const expected = first.length > 0 ? '+OK\r\n+PONG\r\n' : '+PONG\r\n';
      if (reply.length >= expected.length || reply.startsWith('-'))
        done(reply.startsWith(expected) ? 'PING -> PONG' : undefined);
    });
  });
}
