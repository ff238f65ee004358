/**
 * The local stack without Docker: Kafka (KRaft), Apicurio Registry (Confluent
 * API), Redis, PostgreSQL (wal_level=logical) and a Kafka Connect worker with
 * Debezium's PostgreSQL connector and Apicurio's converter, as processes on loopback.
 *
 *   npm run stack -- up [--redis-cluster] | down [--keep-data] | status [--json] | env | fetch
 *
 * Jars come from Maven Central through Maven (tools/stack/pom.xml), cached
 * outside the repo; state, logs and pid files live in FEATURELOG_STACK_DIR
 * (default <repo>/.stack). `down` stops only processes recorded by `up`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensureArtifacts, type StackArtifacts } from './artifacts';
import {
  requireFreePorts,
  requireJava,
  requirePostgres,
  requireRedisCli,
  requireRedisServer,
  type PortClaim,
} from './preflight';
import { launch, pidFileState, stopGroup, tailFile, type Launched } from './processes';
import { ensureSecureMaterial, type SecureMaterial } from './secure-material';
import type { StackContext, StackService } from './service';
import { connect } from './services/connect';
import { kafka } from './services/kafka';
import { postgres } from './services/postgres';
import { redis } from './services/redis';
import { redisCluster } from './services/redis-cluster';
import { schemaRegistry } from './services/schema-registry';
import { StackError } from './stack-error';
import { secureDirectory, stackDirectory, stackEnvVars, stackPorts } from './stack-env';
import { STACK_VERSIONS } from './versions';

/** In start order; `down` goes in reverse. */
const BASE_SERVICES: StackService[] = [kafka, schemaRegistry, redis, postgres, connect];

/**
 * The Redis Cluster is started only on request (`up --redis-cluster` or FEATURELOG_REDIS_CLUSTER=1);
 * once started, status and down see it by its pid file.
 */
function services(argv: readonly string[]): StackService[] {
  const requested = argv.includes('--redis-cluster') || process.env.FEATURELOG_REDIS_CLUSTER === '1';
  const running = pidFileState(pidFile(stackDir(), redisCluster)).state !== 'not-started';
  const all = requested || running ? [...BASE_SERVICES, redisCluster] : BASE_SERVICES;
  // `--only redis-cluster`: a second stack on other ports for one service, beside a running one.
  const only = argv.indexOf('--only');
  if (only < 0) return all;
  const names = (argv[only + 1] ?? '').split(',');
  const every = [...BASE_SERVICES, redisCluster];
  const unknown = names.filter((name) => !every.some((service) => service.name === name));
  if (unknown.length > 0) {
    throw new StackError('BAD_ARGUMENT', `--only names no service: ${unknown.join(', ')}`, {
      hint: `services: ${every.map((service) => service.name).join(', ')}`,
    });
  }
  return every.filter((service) => names.includes(service.name));
}

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const PROBE_INTERVAL_MS = 500;
const started = Date.now();

function progress(message: string): void {
  const seconds = ((Date.now() - started) / 1000).toFixed(1).padStart(5);
  process.stdout.write(`[${seconds}s] ${message}\n`);
}

function stackDir(): string {
  return stackDirectory();
}

function pidFile(dir: string, service: StackService): string {
  return path.join(dir, 'run', `${service.name}.pid`);
}

function logFile(dir: string, service: StackService): string {
  return path.join(dir, 'logs', `${service.name}.log`);
}

interface ContextHandle {
  ctx: StackContext;
  provideArtifacts(artifacts: StackArtifacts): void;
}

/** `makeSecure`: `up` makes the CA, certificate and passwords when missing; `status` only reads them. */
function createContext({ makeSecure }: { makeSecure: boolean } = { makeSecure: true }): ContextHandle {
  const dir = stackDir();
  let ports;
  try {
    ports = stackPorts();
  } catch (error) {
    throw new StackError('BAD_PORT', (error as Error).message, { hint: 'nothing was started' });
  }
  let artifacts: StackArtifacts | undefined;
  let java: string | undefined;
  let secure: SecureMaterial | undefined;
  const ctx: StackContext = {
    repoRoot: REPO_ROOT,
    stackDir: dir,
    logDir: path.join(dir, 'logs'),
    ports,
    artifacts: () => {
      if (artifacts === undefined) throw new Error('stack artifacts used before they were fetched');
      return artifacts;
    },
    java: () => (java ??= requireJava()),
    secure: () => (secure ??= ensureSecureMaterial(secureDirectory(), progress, { create: makeSecure })),
  };
  return { ctx, provideArtifacts: (value) => (artifacts = value) };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function waitReady(
  ctx: StackContext,
  service: StackService,
  launched: Launched,
  aborted: () => boolean,
): Promise<void> {
  const log = logFile(ctx.stackDir, service);
  const deadline = Date.now() + Number(process.env.FEATURELOG_STACK_TIMEOUT_MS ?? service.readyTimeoutMs);
  let lastNote = Date.now();
  while (!aborted()) {
    if (launched.exit !== undefined) {
      const how = launched.exit.signal ? `signal ${launched.exit.signal}` : `exit code ${launched.exit.code}`;
      throw new StackError('SERVICE_EXITED', `${service.name} exited during start-up (${how})`, {
        hint: `last lines of ${log}:\n${tailFile(log)}`,
      });
    }
    const detail = await service.probe(ctx);
    if (detail !== undefined) {
      progress(`${service.name} ready at ${service.endpoint(ctx.ports)} (${detail})`);
      return;
    }
    if (Date.now() > deadline) {
      throw new StackError(
        'READY_TIMEOUT',
        `${service.name} did not answer at ${service.endpoint(ctx.ports)} within ${Math.round(
          (Date.now() - started) / 1000,
        )}s of up (timeout ${service.readyTimeoutMs / 1000}s; FEATURELOG_STACK_TIMEOUT_MS overrides)`,
        { hint: `last lines of ${log}:\n${tailFile(log)}`, retriable: true },
      );
    }
    if (Date.now() - lastNote > 15_000) {
      progress(`${service.name}: still waiting`);
      lastNote = Date.now();
    }
    await sleep(PROBE_INTERVAL_MS);
  }
}

async function stopLaunched(ctx: StackContext, launched: Map<StackService, Launched>): Promise<void> {
  for (const service of [...launched.keys()].reverse()) {
    const entry = launched.get(service);
    if (entry === undefined) continue;
    const how = await stopGroup(entry.record, service.stopGraceMs, service.stopSignal);
    fs.rmSync(pidFile(ctx.stackDir, service), { force: true });
    progress(`${service.name} ${how} (pid ${entry.record.pid})`);
  }
}

async function up(chosen: StackService[]): Promise<number> {
  const { ctx, provideArtifacts } = createContext();
  fs.mkdirSync(path.join(ctx.stackDir, 'run'), { recursive: true });
  fs.mkdirSync(ctx.logDir, { recursive: true });

  const toStart: StackService[] = [];
  const ready = new Set<string>();
  for (const service of chosen) {
    const { state, record } = pidFileState(pidFile(ctx.stackDir, service));
    if (state === 'running') {
      progress(`${service.name} already running (pid ${record?.pid}); leaving it`);
      ready.add(service.name);
    } else {
      if (state === 'dead') progress(`${service.name} had died (pid ${record?.pid}); starting it again`);
      toStart.push(service);
    }
  }
  if (toStart.length === 0) {
    printEnv();
    return 0;
  }

  // Everything that can fail without side effects is checked before anything starts.
  const needsJava = toStart.some((service) => service.needsJava);
  if (needsJava) progress(`java: ${ctx.java()}`);
  if (toStart.includes(redis) || toStart.includes(redisCluster)) progress(`redis-server: ${requireRedisServer()}`);
  if (toStart.includes(redisCluster)) progress(`redis-cli: ${requireRedisCli()}`);
  if (toStart.includes(postgres)) progress(`postgres: ${requirePostgres()}`);
  const claims: PortClaim[] = toStart.flatMap((service) => service.ports(ctx.ports));
  await requireFreePorts(claims);
  progress(`ports free: ${claims.map((claim) => `${claim.service}=${claim.port}`).join(', ')}`);
  if (needsJava) provideArtifacts(await ensureArtifacts(ctx.logDir, progress));
  ctx.secure();

  const launched = new Map<StackService, Launched>();
  const interrupt = (): void => {
    progress('interrupted; stopping what this up started');
    void stopLaunched(ctx, launched).finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  // Each service starts as soon as what it depends on is ready (Connect needs only Kafka).
  const readiness = new Map<string, Promise<void>>();
  let aborted = false;
  const startWhenReady = async (service: StackService): Promise<void> => {
    await Promise.all(service.dependsOn.map((name) => readiness.get(name)));
    if (aborted) return;
    const spec = await service.prepare(ctx);
    const entry = launch({ ...spec, logFile: logFile(ctx.stackDir, service), pidFile: pidFile(ctx.stackDir, service) });
    launched.set(service, entry);
    progress(`${service.name} starting (pid ${entry.record.pid}, log ${logFile(ctx.stackDir, service)})`);
    await waitReady(ctx, service, entry, () => aborted);
  };
  try {
    for (const name of ready) readiness.set(name, Promise.resolve());
    for (const service of toStart) {
      const task = startWhenReady(service);
      // a failed task aborts the others at their next readiness poll
      task.catch(() => (aborted = true));
      readiness.set(service.name, task);
    }
    const outcomes = await Promise.allSettled(toStart.map((service) => readiness.get(service.name)));
    const failure = outcomes.find((outcome) => outcome.status === 'rejected');
    if (failure) throw failure.reason;
  } catch (error) {
    progress(`up failed; stopping the ${launched.size} service(s) this up started`);
    await stopLaunched(ctx, launched);
    throw error;
  } finally {
    process.removeListener('SIGINT', interrupt);
    process.removeListener('SIGTERM', interrupt);
  }
  progress(
    `stack up (Kafka ${STACK_VERSIONS.kafka}, Apicurio ${STACK_VERSIONS.apicurio}, Debezium ${STACK_VERSIONS.debezium}); data in ${ctx.stackDir}`,
  );
  printEnv();
  return 0;
}

function printEnv(): void {
  for (const [name, value] of Object.entries(stackEnvVars())) process.stdout.write(`${name}=${value}\n`);
}

async function down(chosen: StackService[], purge: boolean): Promise<number> {
  const dir = stackDir();
  for (const service of [...chosen].reverse()) {
    const file = pidFile(dir, service);
    const { state, record } = pidFileState(file);
    if (record === undefined) {
      progress(`${service.name} not started`);
      continue;
    }
    const how = await stopGroup(record, service.stopGraceMs, service.stopSignal);
    fs.rmSync(file, { force: true });
    progress(`${service.name} ${state === 'dead' ? 'was already dead' : how} (pid ${record.pid})`);
  }
  if (purge) {
    // Apicurio runs on in-memory storage, so its schemas die with it while Kafka's log would survive:
    // records would then carry schema ids that a restarted registry hands out again for other schemas.
    // The stack's data is therefore disposable by default, and kept only on request.
    for (const service of chosen) {
      service.purge?.(dir);
      fs.rmSync(path.join(dir, service.name), { recursive: true, force: true });
    }
    // The SCRAM users live in Kafka's storage: its passwords and certificates go with it (and stay
    // while Kafka's data stays, e.g. `down --only redis-cluster`).
    if (chosen.includes(kafka)) {
      fs.rmSync(secureDirectory(), { recursive: true, force: true });
      progress(`purged service data and the secured listeners' certificates and passwords under ${dir} (logs kept)`);
    } else {
      progress(`purged the data of ${chosen.map((service) => service.name).join(', ')} under ${dir} (logs kept)`);
    }
  }
  return 0;
}

/** Downloads (or checks the cache of) every jar and tarball, and starts nothing: CI times this step on its own. */
async function fetchOnly(): Promise<number> {
  const { ctx } = createContext();
  fs.mkdirSync(ctx.logDir, { recursive: true });
  await ensureArtifacts(ctx.logDir, progress);
  return 0;
}

async function status(chosen: StackService[], json: boolean): Promise<number> {
  const { ctx } = createContext({ makeSecure: false });
  const rows = [];
  for (const service of chosen) {
    const { state, record } = pidFileState(pidFile(ctx.stackDir, service));
    let answering: boolean | undefined;
    if (state === 'running') answering = (await service.probe(ctx).catch(() => undefined)) !== undefined;
    rows.push({
      service: service.name,
      state,
      answering,
      pid: record?.pid,
      endpoint: service.endpoint(ctx.ports),
      log: logFile(ctx.stackDir, service),
    });
  }
  if (json) {
    process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
  } else {
    for (const row of rows) {
      const detail =
        row.state === 'running'
          ? `pid ${row.pid}, ${row.answering ? 'answering' : 'NOT answering'} at ${row.endpoint}`
          : row.state === 'dead'
            ? `pid ${row.pid} is gone (died after start; see ${row.log})`
            : '';
      process.stdout.write(`${row.service.padEnd(16)} ${row.state.padEnd(12)} ${detail}\n`);
    }
  }
  return rows.some((row) => row.state === 'dead') ? 1 : 0;
}

const USAGE = `usage: npm run stack -- <command>
  up        start Kafka, schema registry, Redis, PostgreSQL and Connect (fetches jars with Maven once);
            --redis-cluster (or FEATURELOG_REDIS_CLUSTER=1) also a Redis Cluster: 3 masters with a
            replica each, on FEATURELOG_REDIS_CLUSTER_PORT (default 7000) and the 5 ports after it
  fetch     only fetch the jars and tarballs with Maven (or find them cached)
  down      stop what up started and delete its data (the in-memory schema registry cannot keep
            its schemas, so Kafka must not keep records that name them); --keep-data keeps it
  status    running / dead / not-started per service (exit 1 if one died); --json for machines
  env       print the FEATURELOG_* client variables
  --only <service,...>  with up, down or status: only these services (e.g. --only redis-cluster)
`;

async function main(argv: string[]): Promise<number> {
  const command = argv[0];
  switch (command) {
    case 'up':
      return up(services(argv));
    case 'down':
      return down(services(argv), !argv.includes('--keep-data'));
    case 'status':
      return status(services(argv), argv.includes('--json'));
    case 'fetch':
      return fetchOnly();
    case 'env':
      printEnv();
      return 0;
    default:
      process.stderr.write(USAGE);
      return command === undefined || command === 'help' || command === '--help' ? 0 : 2;
  }
}

// kafkajs 2.2.4 arms timers with negative delays on Node 24; the warning is noise here.
process.removeAllListeners('warning');
process.on('warning', (warning) => {
  if (warning.name !== 'TimeoutNegativeWarning') process.stderr.write(`${warning.name}: ${warning.message}\n`);
});

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof StackError) {
      process.stderr.write(`\nerror [${error.code}]: ${error.message}\n`);
      if (error.hint) process.stderr.write(`${error.hint}\n`);
    } else {
      process.stderr.write(`\nerror: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    }
    process.exit(1);
  },
);
