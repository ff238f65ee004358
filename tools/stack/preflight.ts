import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { StackError } from './stack-error';

const INSTALL_HINT = 'or run `bash tools/stack/install-system.sh`';

/** An executable on PATH (or an absolute path that exists), else undefined. */
export function which(command: string): string | undefined {
  if (command.includes('/')) return fs.existsSync(command) ? command : undefined;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir === '') continue;
    const candidate = path.join(dir, command);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Kafka 4.x brokers and Apicurio 3.x both need Java 17+. */
export function requireJava(): string {
  const javaHome = process.env.JAVA_HOME;
  const java = javaHome ? path.join(javaHome, 'bin', 'java') : which('java');
  const hint = `install it with \`apt-get install openjdk-17-jre-headless\` (${INSTALL_HINT})`;
  if (java === undefined || !fs.existsSync(java)) {
    throw new StackError(
      'JAVA_MISSING',
      javaHome ? `Java not found at JAVA_HOME=${javaHome} (no bin/java)` : 'Java not found on PATH',
      { hint },
    );
  }
  const result = spawnSync(java, ['-version'], { encoding: 'utf8' });
  const banner = `${result.stderr ?? ''}${result.stdout ?? ''}`;
  const match = /version "(\d+)(?:\.(\d+))?/.exec(banner);
  const major = match ? Number(match[1] === '1' ? match[2] : match[1]) : NaN;
  if (result.status !== 0 || !(major >= 17)) {
    throw new StackError('JAVA_TOO_OLD', `Java 17 or newer is required; ${java} reports: ${banner.split('\n')[0]}`, {
      hint,
    });
  }
  return java;
}

export function requireMaven(): string {
  const mvn = which('mvn');
  if (mvn === undefined) {
    throw new StackError('MAVEN_MISSING', 'Maven (mvn) not found on PATH; it fetches the Kafka and Apicurio jars', {
      hint: `install it with \`apt-get install maven\` (${INSTALL_HINT})`,
    });
  }
  return mvn;
}

export function requireRedisServer(): string {
  const redis = which(process.env.FEATURELOG_REDIS_SERVER ?? 'redis-server');
  if (redis === undefined) {
    throw new StackError('REDIS_MISSING', 'redis-server not found on PATH', {
      hint: `install it with \`apt-get install redis-server\` (${INSTALL_HINT}); the stack runs its own process, not the systemd service`,
    });
  }
  return redis;
}

/** redis-cli creates the Redis Cluster (`up --redis-cluster`); Debian's redis-server package brings it. */
export function requireRedisCli(): string {
  const cli = which(process.env.FEATURELOG_REDIS_CLI ?? 'redis-cli');
  if (cli === undefined) {
    throw new StackError('REDIS_MISSING', 'redis-cli not found on PATH (it creates the Redis Cluster)', {
      hint: `install it with \`apt-get install redis-tools\` (${INSTALL_HINT})`,
    });
  }
  return cli;
}

/**
 * The directory of PostgreSQL's server binaries: FEATURELOG_POSTGRES_BIN, else Debian's newest
 * /usr/lib/postgresql/<major>/bin (the package puts only wrappers on PATH).
 */
export function requirePostgres(): string {
  const override = process.env.FEATURELOG_POSTGRES_BIN;
  const candidates = override
    ? [override]
    : (fs.existsSync('/usr/lib/postgresql') ? fs.readdirSync('/usr/lib/postgresql') : [])
        .filter((major) => /^\d+$/.test(major))
        .sort((a, b) => Number(b) - Number(a))
        .map((major) => path.join('/usr/lib/postgresql', major, 'bin'));
  const found = candidates.find(
    (dir) => fs.existsSync(path.join(dir, 'postgres')) && fs.existsSync(path.join(dir, 'initdb')),
  );
  if (found === undefined) {
    throw new StackError(
      'POSTGRES_MISSING',
      override
        ? `FEATURELOG_POSTGRES_BIN=${override} holds no postgres and initdb`
        : 'PostgreSQL not found (no /usr/lib/postgresql/<major>/bin/postgres)',
      {
        hint: `install it with \`apt-get install postgresql\` (${INSTALL_HINT}); the stack runs its own cluster, not the packaged one`,
      },
    );
  }
  return found;
}

export interface PortClaim {
  port: number;
  envVar: string;
  service: string;
}

function canListen(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Best effort: which process listens on a TCP port, from /proc (Linux only). */
export function describePortHolder(port: number): string | undefined {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = fs.readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      const local = cols[1];
      if (local?.endsWith(`:${hexPort}`) && cols[3] === '0A' && cols[9] !== undefined) inodes.add(cols[9]);
    }
  }
  if (inodes.size === 0) return undefined;
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode !== undefined && inodes.has(inode)) {
        const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
        return `pid ${pid}: ${cmdline.length > 160 ? cmdline.slice(0, 157) + '...' : cmdline}`;
      }
    }
  }
  return 'a process this user cannot inspect';
}

/** Every claimed port must be free on loopback (and on the wildcard address) before anything starts. */
export async function requireFreePorts(claims: PortClaim[]): Promise<void> {
  const seen = new Map<number, PortClaim>();
  for (const claim of claims) {
    const other = seen.get(claim.port);
    if (other) {
      throw new StackError(
        'PORT_CONFLICT',
        `${claim.service} and ${other.service} are both configured for port ${claim.port} (${claim.envVar}, ${other.envVar})`,
        { hint: `set ${claim.envVar} to a different port` },
      );
    }
    seen.set(claim.port, claim);
  }
  const taken: string[] = [];
  for (const claim of claims) {
    const free = (await canListen(claim.port, '127.0.0.1')) && (await canListen(claim.port, '0.0.0.0'));
    if (!free) {
      const holder = describePortHolder(claim.port);
      taken.push(
        `port ${claim.port} (${claim.service}) is already in use${holder ? ` by ${holder}` : ''}; ` +
          `free it or choose another port with ${claim.envVar}=<port>`,
      );
    }
  }
  if (taken.length > 0) {
    throw new StackError('PORT_IN_USE', taken.join('\n'), { hint: 'nothing was started' });
  }
}
