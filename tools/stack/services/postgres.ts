import { execFile, spawn, spawnSync, type SpawnOptions } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { requirePostgres } from '../preflight';
import { StackError } from '../stack-error';
import { PORT_ENV, POSTGRES_DATABASE, STACK_HOST } from '../stack-env';
import type { StackContext, StackService } from '../service';

/**
 * Our own PostgreSQL cluster (Debian's binaries, not the packaged `main` cluster nor its systemd unit),
 * with `wal_level=logical` for Debezium's pgoutput plugin. Data lives in <stack dir>/postgres/data and
 * goes with `down` like the other services' data.
 *
 * PostgreSQL refuses to run as root. When the stack runs as root, initdb and the server run as the
 * `postgres` system user that Debian's package creates (FEATURELOG_POSTGRES_OS_USER names another);
 * its data goes to the temp dir when that user cannot reach the stack dir. Otherwise they run as
 * whoever runs `up`.
 */
export const postgres: StackService = {
  name: 'postgres',
  dependsOn: [],
  needsJava: false,
  readyTimeoutMs: 30_000,
  stopGraceMs: 15_000,
  // SIGTERM is PostgreSQL's "smart" shutdown, which waits for every client (a Debezium task, a test's
  // psql) to leave; SIGINT is the "fast" one that ends them. Its children are process-group leaders of
  // their own (they call setsid), so the postmaster must be the one to stop them.
  stopSignal: 'SIGINT',
  ports: (ports) => [{ port: ports.postgres, envVar: PORT_ENV.postgres, service: 'postgres' }],
  endpoint: (ports) => `postgresql://${STACK_HOST}:${ports.postgres}/${POSTGRES_DATABASE}`,

  async prepare(ctx) {
    const bin = requirePostgres();
    const owner = osUser();
    const home = postgresHome(ctx.stackDir, owner);
    const data = path.join(home, 'data');
    const { postgresUsername: user, postgresPassword: password } = ctx.secure().credentials;
    if (user === undefined || password === undefined) throw new Error('stack credentials lack PostgreSQL');
    if (!fs.existsSync(path.join(data, 'PG_VERSION'))) {
      await initialise(bin, home, data, user, password, owner);
    }
    return {
      command: path.join(bin, 'postgres'),
      args: [
        '-D',
        data,
        ...settings({
          listen_addresses: STACK_HOST,
          port: String(ctx.ports.postgres),
          // TCP only: a socket path would have to fit 107 bytes and be writable by the server's user
          unix_socket_directories: '',
          wal_level: 'logical',
          max_replication_slots: '20',
          max_wal_senders: '20',
          max_connections: '60',
          shared_buffers: '32MB',
          // a slot left behind by a killed test must not keep WAL until the disk fills
          max_slot_wal_keep_size: '1GB',
          log_min_messages: 'warning',
          log_connections: 'off',
        }),
      ],
      cwd: home,
      env: { ...process.env, LC_ALL: 'C' },
      ...(owner && { uid: owner.uid, gid: owner.gid }),
    };
  },

  purge(stackDir) {
    const pointer = path.join(stackDir, 'postgres', OUTSIDE_POINTER);
    if (!fs.existsSync(pointer)) return;
    const outside = fs.readFileSync(pointer, 'utf8').trim();
    // only what postgresHome makes: never a path someone edited into the file
    if (/\/featurelog-postgres-[0-9a-f]{12}$/.test(outside)) fs.rmSync(outside, { recursive: true, force: true });
  },

  async probe(ctx) {
    // A real login with the stack's user and password, not only pg_isready's "accepting connections".
    const { postgresUsername: user, postgresPassword: password } = ctx.secure().credentials;
    if (user === undefined || password === undefined) return undefined;
    const walLevel = await psql(ctx, user, password, 'SHOW wal_level');
    return walLevel === undefined ? undefined : `SHOW wal_level -> ${walLevel} (as ${user}, password)`;
  },
};

/** Where `up` recorded a data directory outside the stack dir (see postgresHome). */
const OUTSIDE_POINTER = 'data-outside';

/**
 * <stack dir>/postgres, unless the server's OS user cannot reach it (a checkout under /root, mode 0700,
 * run as root): then a directory of the system's temp dir keyed by the stack dir, recorded in
 * <stack dir>/postgres/data-outside so that `down` deletes it with the rest of the data.
 */
function postgresHome(stackDir: string, owner: OsUser | undefined): string {
  const inside = path.join(stackDir, 'postgres');
  fs.mkdirSync(inside, { recursive: true, mode: 0o700 });
  if (owner === undefined) return inside;
  fs.chownSync(inside, owner.uid, owner.gid);
  if (writableBy(owner, inside)) return inside;
  const key = createHash('sha256').update(path.resolve(stackDir)).digest('hex').slice(0, 12);
  const outside = path.join(os.tmpdir(), `featurelog-postgres-${key}`);
  fs.mkdirSync(outside, { recursive: true, mode: 0o700 });
  fs.chownSync(outside, owner.uid, owner.gid);
  if (!writableBy(owner, outside)) {
    throw new StackError(
      'POSTGRES_DIR_UNREACHABLE',
      `PostgreSQL runs as the OS user ${owner.name} (it refuses root), who can write neither ${inside} nor ${outside}`,
      {
        hint:
          'a directory above them is closed to that user: point FEATURELOG_STACK_DIR (or TMPDIR) at a path it can ' +
          'reach, or name another user in FEATURELOG_POSTGRES_OS_USER; nothing of PostgreSQL was started',
      },
    );
  }
  fs.writeFileSync(path.join(inside, OUTSIDE_POINTER), outside + '\n');
  return outside;
}

function writableBy(owner: OsUser, dir: string): boolean {
  return spawnSync('/bin/sh', ['-c', 'test -w "$1"', 'sh', dir], { uid: owner.uid, gid: owner.gid }).status === 0;
}

function settings(values: Record<string, string>): string[] {
  return Object.entries(values).flatMap(([name, value]) => ['-c', `${name}=${value}`]);
}

interface OsUser {
  name: string;
  uid: number;
  gid: number;
}

/** The user PostgreSQL runs as when `up` runs as root; undefined when no switch is needed. */
function osUser(): OsUser | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const name = process.env.FEATURELOG_POSTGRES_OS_USER ?? 'postgres';
  const uid = Number(spawnSync('id', ['-u', name], { encoding: 'utf8' }).stdout.trim());
  const gid = Number(spawnSync('id', ['-g', name], { encoding: 'utf8' }).stdout.trim());
  if (!Number.isInteger(uid) || !Number.isInteger(gid) || uid <= 0 || String(uid) === '') {
    throw new StackError(
      'POSTGRES_USER_MISSING',
      `the stack runs as root and PostgreSQL refuses root, but there is no OS user ${name} to run it as`,
      {
        hint: "Debian's postgresql package creates `postgres` (`bash tools/stack/install-system.sh`); or name a user in FEATURELOG_POSTGRES_OS_USER",
      },
    );
  }
  return { name, uid, gid };
}

interface Ran {
  status: number | null;
  stderr: string;
  error?: Error;
}

/** Like spawnSync, without blocking `up`'s event loop: Kafka's and Apicurio's start-up go on meanwhile. */
function runAsync(command: string, args: string[], options: SpawnOptions & { input?: string }): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { ...options, stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', (error) => resolve({ status: null, stderr, error }));
    child.on('close', (status) => resolve({ status, stderr }));
    child.stdin?.end(options.input ?? '');
  });
}

/** initdb with the stack's superuser and password, then the test database, in single-user mode (no port yet). */
async function initialise(
  bin: string,
  home: string,
  data: string,
  user: string,
  password: string,
  owner?: OsUser,
): Promise<void> {
  const as = owner ? { uid: owner.uid, gid: owner.gid } : {};
  const pwfile = path.join(home, '.pwfile');
  fs.writeFileSync(pwfile, password + '\n', { mode: 0o600 });
  if (owner) fs.chownSync(pwfile, owner.uid, owner.gid);
  try {
    const init = await runAsync(
      path.join(bin, 'initdb'),
      ['-D', data, '-U', user, `--pwfile=${pwfile}`, '--auth-host=scram-sha-256', '--auth-local=peer'].concat([
        '-E',
        'UTF8',
        '--no-locale',
        '--no-sync',
      ]),
      { ...as, cwd: home, env: { ...process.env, LC_ALL: 'C' } },
    );
    if (init.status !== 0) {
      fs.rmSync(data, { recursive: true, force: true });
      throw new StackError('POSTGRES_INITDB_FAILED', `initdb failed (exit ${init.status})`, {
        hint: `${init.stderr}${init.error?.message ?? ''}`.trim(),
      });
    }
  } finally {
    fs.rmSync(pwfile, { force: true });
  }
  const create = await runAsync(
    path.join(bin, 'postgres'),
    ['--single', '-D', data, '-c', 'unix_socket_directories=', 'postgres'],
    {
      ...as,
      cwd: home,
      input: `CREATE DATABASE ${POSTGRES_DATABASE} OWNER ${user};\n`,
    },
  );
  if (create.status !== 0 || /ERROR/.test(create.stderr)) {
    fs.rmSync(data, { recursive: true, force: true });
    throw new StackError('POSTGRES_INITDB_FAILED', `creating database ${POSTGRES_DATABASE} failed`, {
      hint: create.stderr.trim(),
    });
  }
}

/** One query through psql; resolves its single value, or undefined when the server does not answer (yet). */
function psql(ctx: StackContext, user: string, password: string, sql: string): Promise<string | undefined> {
  let client: string;
  try {
    client = path.join(requirePostgres(), 'psql');
  } catch {
    return Promise.resolve(undefined);
  }
  return new Promise((resolve) => {
    execFile(
      client,
      [
        '-X',
        '-A',
        '-t',
        '-h',
        STACK_HOST,
        '-p',
        String(ctx.ports.postgres),
        '-U',
        user,
        '-d',
        POSTGRES_DATABASE,
      ].concat(['-c', sql]),
      // the password through the environment: never on a command line that ps shows
      { env: { ...process.env, PGPASSWORD: password, PGCONNECT_TIMEOUT: '2' }, timeout: 5000, encoding: 'utf8' },
      (error, stdout) => resolve(error ? undefined : stdout.trim()),
    );
  });
}
