/**
 * Feast's Python feature server as a peer of featurelog in bench/online/online.bench.ts.
 *
 * The bench hands over featurelog's store (its public interface only: `OnlineStore.read`) and the
 * shape of its data; this module
 *  1. installs Feast into its own venv on first use (bench/online/feast/requirements.txt; Feast 0.67
 *     needs pandas < 3, the project's .venv pins pandas 3);
 *  2. reads back every entity's rows from featurelog's store and writes them to Parquet, one file per
 *     view (write_parquet.py), with the same entities, names, types, values and event timestamps;
 *  3. generates a Feast feature repo in a temp dir (Redis online store on the same Redis, keys of its
 *     own project; one FileSource and FeatureView per view; a FeatureService over all of them),
 *     runs `feast apply` and `feast materialize`;
 *  4. starts `feast serve` (gunicorn + uvicorn workers) and measures its processes' CPU time.
 * It never touches featurelog's keys: Feast writes and reads its own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Redis from 'ioredis';
import type { FeatureValue } from '@featurelog/domain';
import type { OnlineStore } from '@featurelog/online-store';

export type BenchFeatureType = 'int64' | 'float64' | 'float32' | 'timestamp' | 'bool' | 'string';

export interface FeastPeerOptions {
  /** The Redis featurelog serves from; Feast's keys go to the same server (its own project's keys). */
  redisUrl: string;
  /** featurelog's store and project: Feast is loaded with exactly what they hold. */
  store: OnlineStore;
  project: string;
  entities: number;
  /** featurelog's encoded entity key of driver `id`, e.g. `driver_id=7`. */
  entityKey: (id: number) => string;
  entityName: string;
  joinKey: string;
  views: readonly string[];
  features: ReadonlyArray<readonly [string, BenchFeatureType]>;
  ttlSeconds: number;
  /** The FeatureService over every view (the same name as featurelog's). */
  service: string;
}

export interface FeastPeer {
  base: string;
  /** The `feast serve` command line and what it resolves to, for the bench's output. */
  settings: string;
  /** CPU time (user + system) of the server's processes so far, microseconds: gunicorn's master, its workers, and workers already gone. */
  cpu(): Promise<number>;
  stop(): Promise<void>;
}

const REPO_ROOT = resolve(__dirname, '..', '..', '..');
const REQUIREMENTS = join(__dirname, 'requirements.txt');
const FEAST_PROJECT = 'featurelog_bench';
/** Feast's keys expire by themselves a week after a run materialized them; a later run reuses them meanwhile. */
const FEAST_KEY_TTL_SECONDS = 7 * 86_400;
/** Which of featurelog's data Feast's keys hold (see fingerprint); in a key space of its own. */
const LOADED_MARKER = 'featurelog_bench_feast:__loaded';

/** The venv Feast runs from: BENCH_FEAST_VENV, else <repo>/.venv/feast (inside the project's venv folder, so it goes with it). */
function venvDirectory(): string {
  if (process.env.BENCH_FEAST_VENV) return resolve(process.env.BENCH_FEAST_VENV);
  const projectVenv = join(REPO_ROOT, '.venv');
  return join(existsSync(projectVenv) ? realpathSync(projectVenv) : projectVenv, 'feast');
}

/** Installs requirements.txt into the Feast venv unless it is there already (same hash as the last install). */
async function ensureVenv(): Promise<string> {
  const venv = venvDirectory();
  const marker = join(venv, '.requirements.sha256');
  const want = createHash('sha256').update(readFileSync(REQUIREMENTS)).digest('hex');
  if (existsSync(join(venv, 'bin', 'feast')) && existsSync(marker) && readFileSync(marker, 'utf8').trim() === want) {
    return venv;
  }
  const projectPython = join(REPO_ROOT, '.venv', 'bin', 'python');
  const python = existsSync(projectPython) ? projectPython : 'python3';
  console.log(`feast: installing bench/online/feast/requirements.txt into ${venv} (first use; takes a minute or two)`);
  const started = performance.now();
  if (!existsSync(join(venv, 'bin', 'python'))) await run(python, ['-m', 'venv', venv], { what: 'python -m venv' });
  await run(
    join(venv, 'bin', 'python'),
    ['-m', 'pip', 'install', '-q', '--disable-pip-version-check', '-r', REQUIREMENTS],
    {
      what: 'pip install -r bench/online/feast/requirements.txt',
    },
  );
  await writeFile(marker, `${want}\n`);
  console.log(`feast: installed in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  return venv;
}

/** Runs a command to its end; its output is kept and shown only if it fails. */
function run(command: string, args: string[], options: { what: string; cwd?: string }): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: feastEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code === 0) resolvePromise(output);
      else reject(new Error(`feast: ${options.what} failed (${signal ?? `exit ${code}`}):\n${output.slice(-4_000)}`));
    });
  });
}

function feastEnv(): NodeJS.ProcessEnv {
  // Python's own buffering would hold gunicorn's start-up lines back from the log.
  return { ...process.env, PYTHONUNBUFFERED: '1' };
}

/**
 * Feast's Redis connection string (`host:port,key=value,…`) for a redis:// or rediss:// URL, with
 * its user, password and database. Feast splits it on commas: a password holding one cannot be passed.
 */
export function feastConnectionString(redisUrl: string): string {
  const url = new URL(redisUrl);
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new Error(`feast: FEATURELOG_REDIS_URL ${url.protocol}// is not redis:// or rediss://`);
  }
  const parts = [`${url.hostname.replace(/^\[|\]$/g, '')}:${url.port || '6379'}`];
  const db = url.pathname.replace(/^\//, '');
  if (db !== '') parts.push(`db=${Number(db)}`);
  if (url.username) parts.push(`username=${decodeURIComponent(url.username)}`);
  if (url.password) {
    const password = decodeURIComponent(url.password);
    if (password.includes(',')) throw new Error('feast: the Redis password holds a comma, which Feast cannot take');
    // Feast JSON-decodes each value: a password that reads as a number or literal stays a string only quoted.
    parts.push(`password=${JSON.stringify(password)}`);
  }
  if (url.protocol === 'rediss:') parts.push('ssl=true');
  return parts.join(',');
}

const FEAST_TYPES: Record<BenchFeatureType, string> = {
  int64: 'Int64',
  float64: 'Float64',
  float32: 'Float32',
  timestamp: 'UnixTimestamp',
  bool: 'Bool',
  string: 'String',
};

/** The feature repo's definitions: one FileSource + FeatureView per view, a FeatureService over all. */
export function feastDefinitions(options: FeastPeerOptions, dataDirectory: string): string {
  const schema = options.features.map(([name, type]) => `Field(name=${py(name)}, dtype=${FEAST_TYPES[type]})`);
  const views = options.views.map(
    (view, v) => `view_${v} = FeatureView(
    name=${py(view)},
    entities=[entity],
    ttl=timedelta(seconds=${options.ttlSeconds}),
    schema=[
        ${schema.join(',\n        ')},
    ],
    online=True,
    source=FileSource(
        name=${py(`${view}_source`)},
        path=${py(join(dataDirectory, `${view}.parquet`))},
        timestamp_field="event_timestamp",
    ),
)`,
  );
  return `# Generated by bench/online/feast/feast-peer.ts: featurelog's bench data as a Feast feature repo.
from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.types import Bool, Float32, Float64, Int64, String, UnixTimestamp

entity = Entity(name=${py(options.entityName)}, join_keys=[${py(options.joinKey)}], value_type=ValueType.INT64)

${views.join('\n\n')}

service = FeatureService(name=${py(options.service)}, features=[${options.views.map((_, v) => `view_${v}`).join(', ')}])
`;
}

/** A Python string literal (JSON's escapes are Python's for these names and paths). */
function py(text: string): string {
  return JSON.stringify(text);
}

export function feastStoreYaml(redisUrl: string): string {
  return `project: ${FEAST_PROJECT}
provider: local
registry:
  path: data/registry.db
  cache_ttl_seconds: 60
online_store:
  type: redis
  connection_string: ${JSON.stringify(feastConnectionString(redisUrl))}
  key_ttl_seconds: ${FEAST_KEY_TTL_SECONDS}
  # Each run loads Feast anew from featurelog's current data: overwrite, never keep an older run's row.
  skip_dedup: true
offline_store:
  type: file
entity_key_serialization_version: 3
`;
}

/**
 * Reads every entity's rows back from featurelog's store and writes them out as columns per view,
 * with each row's event timestamp (epoch µs). A missing row fails: Feast must hold the same rows.
 */
async function exportColumns(options: FeastPeerOptions, file: string): Promise<{ first: number; last: number }> {
  const columns = Object.fromEntries(
    options.views.map((view) => [
      view,
      {
        [options.joinKey]: [] as number[],
        event_timestamp: [] as number[],
        ...Object.fromEntries(options.features.map(([name]) => [name, [] as FeatureValue[]])),
      },
    ]),
  );
  const featureNames = options.views.map(() => options.features.map(([name]) => name));
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  for (let from = 0; from < options.entities; from += 1_000) {
    const ids = Array.from({ length: Math.min(1_000, options.entities - from) }, (_, i) => from + i);
    const rows = await options.store.read(
      options.project,
      ids.map((id) => ({ entityKey: options.entityKey(id), views: options.views, features: featureNames })),
    );
    ids.forEach((id, i) => {
      options.views.forEach((view, v) => {
        const value = rows[i]![v];
        if (!value) throw new Error(`feast: featurelog's store has no row of ${view} for ${options.entityKey(id)}`);
        const column = columns[view]!;
        (column[options.joinKey] as number[]).push(id);
        (column.event_timestamp as number[]).push(value.version.eventTimestamp);
        first = Math.min(first, value.version.eventTimestamp);
        last = Math.max(last, value.version.eventTimestamp);
        for (const [name] of options.features) (column[name] as FeatureValue[]).push(value.features[name] ?? null);
      });
    });
  }
  await writeFile(file, JSON.stringify({ entity: options.joinKey, features: options.features, views: columns }));
  return { first, last };
}

async function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolvePromise(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** user + system + reaped children's time of one process, in clock ticks (/proc/<pid>/stat fields 14–17). */
async function processTicks(pid: number, withChildren: boolean): Promise<{ ticks: number; ppid: number } | undefined> {
  let stat: string;
  try {
    stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // gone between the listing and the read
  }
  // The command name (field 2) is in parentheses and may hold spaces: count fields after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const at = (field: number) => Number(fields[field - 3]);
  return { ticks: at(14) + at(15) + (withChildren ? at(16) + at(17) : 0), ppid: at(4) };
}

/** The Linux clock tick is 100 Hz on every kernel config this runs on (CONFIG_HZ does not change USER_HZ). */
const TICK_MICROS = 10_000;

/**
 * CPU time of a gunicorn master and its workers, µs: the master's own and its reaped children's
 * (workers that `--max-requests` recycled), plus each live worker's.
 */
export async function serverCpuMicros(masterPid: number): Promise<number> {
  const master = await processTicks(masterPid, true);
  if (!master) throw new Error(`feast: the feature server (pid ${masterPid}) is gone`);
  let ticks = master.ticks;
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const child = await processTicks(Number(entry), false);
    if (child && child.ppid === masterPid) ticks += child.ticks;
  }
  return ticks * TICK_MICROS;
}

async function waitForHealth(base: string, server: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    if (server.exitCode !== null || server.signalCode !== null) {
      throw new Error(`feast: feast serve exited (${server.signalCode ?? server.exitCode}):\n${log().slice(-4_000)}`);
    }
    try {
      const response = await fetch(`${base}/health`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolvePromise) => setTimeout(resolvePromise, 250));
  }
  throw new Error(`feast: feast serve did not answer /health within 180 s:\n${log().slice(-4_000)}`);
}

function isoSeconds(epochMicros: number): string {
  return new Date(Math.floor(epochMicros / 1_000)).toISOString().replace(/\.\d{3}Z$/, '');
}

/**
 * The feature repo, its Parquet files and registry: BENCH_FEAST_DIR, else <tmp>/featurelog-bench-feast.
 * Kept between runs with Feast's keys in Redis, so that a run whose data Feast already holds skips
 * the export and `feast materialize` (minutes on 2 CPUs).
 */
function feastDirectory(): string {
  return resolve(process.env.BENCH_FEAST_DIR ?? join(tmpdir(), 'featurelog-bench-feast'));
}

/**
 * What Feast's keys were loaded from: the requirements, the repo's definitions, and a sample of
 * featurelog's rows with their versions (the bench reloads its data whole, with new timestamps, or not at all).
 */
async function fingerprint(options: FeastPeerOptions, directory: string): Promise<string> {
  const sample = [0, 1, Math.floor(options.entities / 2), options.entities - 1];
  const rows = await options.store.read(
    options.project,
    sample.map((id) => ({ entityKey: options.entityKey(id), views: options.views })),
  );
  return createHash('sha256')
    .update(readFileSync(REQUIREMENTS))
    .update(feastStoreYaml(options.redisUrl))
    .update(feastDefinitions(options, join(directory, 'data')))
    .update(JSON.stringify({ entities: options.entities, rows }))
    .digest('hex');
}

/**
 * Loads Feast with featurelog's rows unless its keys hold them already (the marker names the
 * fingerprint they were loaded from): Parquet from featurelog's store, `feast apply`, `feast materialize`.
 */
async function load(options: FeastPeerOptions, venv: string, directory: string, version: string): Promise<void> {
  const feast = join(venv, 'bin', 'feast');
  const data = join(directory, 'data');
  const redis = new Redis(options.redisUrl);
  try {
    const want = await fingerprint(options, directory);
    if (
      (await redis.get(LOADED_MARKER)) === want &&
      existsSync(join(directory, 'data', 'registry.db')) &&
      options.views.every((view) => existsSync(join(data, `${view}.parquet`)))
    ) {
      console.log(
        `feast: ${version}; data already materialized from featurelog's rows (marker ${LOADED_MARKER}, repo ${directory})`,
      );
      return;
    }
    await redis.del(LOADED_MARKER);
    await rm(directory, { recursive: true, force: true });
    await mkdir(data, { recursive: true });
    let started = performance.now();
    const columnsFile = join(directory, 'columns.json');
    const { first, last } = await exportColumns(options, columnsFile);
    await run(join(venv, 'bin', 'python'), [join(__dirname, 'write_parquet.py'), columnsFile, data], {
      what: 'write_parquet.py',
    });
    await rm(columnsFile);
    console.log(
      `feast: ${version}; ${options.entities} entities x ${options.views.length} views read from featurelog's store ` +
        `and written to Parquet in ${((performance.now() - started) / 1000).toFixed(1)} s (${data})`,
    );
    await writeFile(join(directory, 'feature_store.yaml'), feastStoreYaml(options.redisUrl));
    await writeFile(join(directory, 'repo.py'), feastDefinitions(options, data));
    await run(feast, ['apply'], { what: 'feast apply', cwd: directory });
    console.log(
      `feast: feast apply done; feast materialize into ${new URL(options.redisUrl).host} (minutes on 2 CPUs)`,
    );
    started = performance.now();
    // The window holds every row's event timestamp (whole seconds, end exclusive).
    await run(feast, ['materialize', isoSeconds(first - 1_000_000), isoSeconds(last + 2_000_000)], {
      what: 'feast materialize',
      cwd: directory,
    });
    const elapsed = (performance.now() - started) / 1000;
    // The marker must not outlive the keys (each expires FEAST_KEY_TTL_SECONDS after its write).
    await redis.set(LOADED_MARKER, want, 'EX', Math.max(60, FEAST_KEY_TTL_SECONDS - Math.ceil(elapsed) - 60));
    console.log(`feast: materialized in ${elapsed.toFixed(1)} s`);
  } finally {
    redis.disconnect();
  }
}

export async function startFeast(options: FeastPeerOptions): Promise<FeastPeer> {
  const venv = await ensureVenv();
  const feast = join(venv, 'bin', 'feast');
  const version = (
    await run(join(venv, 'bin', 'python'), ['-c', 'import feast; print("feast " + feast.__version__)'], {
      what: 'import feast',
    })
  ).trim();
  const directory = feastDirectory();
  let server: ChildProcess | undefined;
  // A bench that dies or is stopped must not leave the feature server running: it is this process's child.
  const killServer = () => server?.kill('SIGKILL');
  const onSignal = (signal: NodeJS.Signals) => {
    killServer();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  const forget = () => {
    process.off('exit', killServer);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  process.once('exit', killServer);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await load(options, venv, directory, version);
    const port = await freePort();
    // Feast's production settings (its Python feature server docs): --workers -1 is 2 x CPUs + 1.
    const workers = Number(process.env.BENCH_FEAST_WORKERS ?? -1);
    const resolvedWorkers = workers === -1 ? cpus().length * 2 + 1 : workers;
    const args = [
      'serve',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--workers',
      String(workers),
      '--worker-connections',
      '1000',
      '--keep-alive-timeout',
      '30',
      '--max-requests',
      process.env.BENCH_FEAST_MAX_REQUESTS ?? '1000',
      '--max-requests-jitter',
      '50',
      '--registry_ttl_sec',
      '60',
      '--no-access-log',
    ];
    let log = '';
    server = spawn(feast, args, { cwd: directory, env: feastEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    server.stdout!.on('data', (chunk: Buffer) => (log = (log + chunk.toString()).slice(-20_000)));
    server.stderr!.on('data', (chunk: Buffer) => (log = (log + chunk.toString()).slice(-20_000)));
    const base = `http://127.0.0.1:${port}`;
    await waitForHealth(base, server, () => log);
    const running = server;
    const masterPid = running.pid!;
    return {
      base,
      settings:
        `feast ${args.join(' ')} (${resolvedWorkers} uvicorn workers under gunicorn, ` +
        `Redis online store ${feastConnectionString(options.redisUrl).split(',')[0]}, project ${FEAST_PROJECT})`,
      cpu: () => serverCpuMicros(masterPid),
      stop: async () => {
        const exited = new Promise<void>((resolvePromise) => {
          if (running.exitCode !== null || running.signalCode !== null) resolvePromise();
          else running.once('exit', () => resolvePromise());
        });
        running.kill('SIGTERM'); // gunicorn: graceful stop of the master and its workers
        const timer = setTimeout(() => running.kill('SIGKILL'), 20_000);
        await exited;
        clearTimeout(timer);
        forget();
      },
    };
  } catch (error) {
    killServer();
    forget();
    throw error;
  }
}
