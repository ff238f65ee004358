/**
 * The real change-data-capture path for e2e tests and benches: SQL on the stack's PostgreSQL through psql, a
 * Debezium PostgresConnector created through Connect's REST API, and the topic it writes read back.
 * Everything a capture creates (connector, slot, publication, table) is removed by `dropCapture`.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { Kafka, logLevel, type KafkaMessage } from 'kafkajs';
import { runProcess } from '@featurelog/runtime';
import { stackDirectory, stackEnv, stackPostgresEnv, uniqueName, waitFor } from '@featurelog/testing';

const env = stackEnv();
const pg = stackPostgresEnv();

/** psql of the newest PostgreSQL on this machine (as the stack finds it), or FEATURELOG_POSTGRES_BIN's. */
export function psqlPath(): string {
  const override = process.env.FEATURELOG_POSTGRES_BIN;
  const dirs = override
    ? [override]
    : (existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql') : [])
        .filter((major) => /^\d+$/.test(major))
        .sort((a, b) => Number(b) - Number(a))
        .map((major) => join('/usr/lib/postgresql', major, 'bin'));
  const found = dirs.map((dir) => join(dir, 'psql')).find((file) => existsSync(file));
  if (found === undefined) throw new Error('no psql: install PostgreSQL (the stack needs it too)');
  return found;
}

/**
 * Runs SQL (one statement or a whole script, fed on stdin) as the stack's user; the password goes
 * through the environment only. Quiet and unaligned: what it prints is the rows of its SELECTs.
 */
export function sql(script: string): Promise<string> {
  if (!pg.password) throw new Error('no PostgreSQL password: is the stack up (secure/credentials.json)?');
  const args = ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1'];
  args.push('-h', pg.host, '-p', String(pg.port), '-U', pg.user, '-d', pg.database);
  return new Promise((resolve, reject) => {
    const child = execFile(
      psqlPath(),
      args,
      {
        env: { ...process.env, PGPASSWORD: pg.password },
        encoding: 'utf8',
        timeout: 120_000,
        maxBuffer: 64 << 20,
      },
      (error, stdout, stderr) =>
        error ? reject(new Error(`${basename(psqlPath())} failed: ${stderr || error.message}`)) : resolve(stdout),
    );
    child.stdin?.end(script);
  });
}

/** A SQL literal: text quoted with its quotes doubled, or NULL. */
export function literal(value: string | number | null): string {
  if (value === null) return 'NULL';
  if (typeof value === 'number') return String(value);
  return `'${value.replace(/'/g, "''")}'`;
}

export async function connectRest(
  method: string,
  route: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  const response = await fetch(`${env.connectUrl}${route}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, json: text === '' ? undefined : JSON.parse(text) };
}

export interface Capture {
  /** Connector name, Debezium's topic.prefix and the replication slot's name. */
  name: string;
  table: string;
  /** Debezium's topic for the table: <prefix>.public.<table>. */
  topic: string;
  slot: string;
  publication: string;
}

/** Names for one capture of one table, apart from every other run's (letters, digits and underscores). */
export function newCapture(label: string): Capture {
  const id = uniqueName(label).replace(/-/g, '_');
  return {
    name: id,
    table: `t_${id}`,
    topic: `${id}.public.t_${id}`,
    slot: id,
    publication: `${id}_pub`,
  };
}

/** JsonConverter with schemas on values (the `{"schema", "payload"}` envelope) and plain JSON keys. */
export const JSON_CONVERTERS = {
  'key.converter': 'org.apache.kafka.connect.json.JsonConverter',
  'key.converter.schemas.enable': 'false',
  'value.converter': 'org.apache.kafka.connect.json.JsonConverter',
  'value.converter.schemas.enable': 'true',
};

/** Apicurio's AvroConverter writing the Confluent wire format (4-byte content ids, no headers). */
export function avroConverters(): Record<string, string> {
  const avro = {
    'apicurio.registry.url': env.schemaRegistryUrl.replace(/\/apis\/ccompat\/v7\/?$/, '/apis/registry/v2'),
    'apicurio.registry.auto-register': 'true',
    'apicurio.registry.as-confluent': 'true',
    'apicurio.registry.use-id': 'contentId',
    'apicurio.registry.headers.enabled': 'false',
  };
  const converters: Record<string, string> = {};
  for (const side of ['key', 'value']) {
    converters[`${side}.converter`] = 'io.apicurio.registry.utils.converter.AvroConverter';
    for (const [key, value] of Object.entries(avro)) converters[`${side}.converter.${key}`] = value;
  }
  return converters;
}

/**
 * Creates the Debezium PostgresConnector of a capture (pgoutput, one task, one-partition topic) and
 * waits until its slot streams: rows committed before that would be missed (with snapshot.mode
 * no_data) or would be in the snapshot.
 */
export async function startCapture(capture: Capture, config: Record<string, string>): Promise<void> {
  const created = await connectRest('PUT', `/connectors/${capture.name}/config`, {
    'connector.class': 'io.debezium.connector.postgresql.PostgresConnector',
    'tasks.max': '1',
    'plugin.name': 'pgoutput',
    'database.hostname': pg.host,
    'database.port': String(pg.port),
    'database.user': pg.user,
    'database.password': pg.password,
    'database.dbname': pg.database,
    'topic.prefix': capture.name,
    'table.include.list': `public.${capture.table}`,
    'slot.name': capture.slot,
    'publication.name': capture.publication,
    'publication.autocreate.mode': 'filtered',
    'topic.creation.default.replication.factor': '1',
    'topic.creation.default.partitions': '1',
    ...config,
  });
  if (created.status !== 201) throw new Error(`connector ${capture.name}: ${JSON.stringify(created.json)}`);
  await waitFor(
    async () =>
      (await sql(`SELECT active FROM pg_replication_slots WHERE slot_name = '${capture.slot}'`)).trim() === 't',
    { timeoutMs: 90_000, intervalMs: 250, description: `replication slot ${capture.slot} streaming` },
  );
}

/** Deletes the connector, then its slot (once the task lets go of it), publication and table. */
export async function dropCapture(capture: Capture): Promise<void> {
  await connectRest('DELETE', `/connectors/${capture.name}`).catch(() => undefined);
  await waitFor(
    async () =>
      (await sql(`SELECT count(*) FROM pg_replication_slots WHERE slot_name = '${capture.slot}' AND active`)).trim() ===
      '0',
    { timeoutMs: 60_000, intervalMs: 250, description: `slot ${capture.slot} released` },
  ).catch(() => undefined);
  await sql(
    `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '${capture.slot}'`,
  ).catch(() => undefined);
  await sql(`DROP PUBLICATION IF EXISTS ${capture.publication}`).catch(() => undefined);
  await sql(`DROP TABLE IF EXISTS ${capture.table}; DROP SEQUENCE IF EXISTS ${capture.table}_commits`).catch(
    () => undefined,
  );
}

/** Reads a topic from its beginning until `done` says enough (the records so far), within the deadline. */
export async function readTopic(
  topic: string,
  done: (messages: readonly KafkaMessage[]) => boolean | Promise<boolean>,
  timeoutMs = 60_000,
): Promise<KafkaMessage[]> {
  const kafka = new Kafka({ clientId: 'cdc-e2e', brokers: env.kafkaBrokers, logLevel: logLevel.NOTHING });
  const messages: KafkaMessage[] = [];
  // Connect creates the topic with its first record: after a restart (or a slow start) that may be later
  // than the commits the test waits for, and subscribing to a topic that is not there yet fails.
  const admin = kafka.admin();
  await admin.connect();
  try {
    await waitFor(async () => (await admin.listTopics()).includes(topic), {
      timeoutMs,
      intervalMs: 250,
      description: `topic ${topic} created by Connect`,
    });
  } finally {
    await admin.disconnect();
  }
  const consumer = kafka.consumer({ groupId: uniqueName('cdc-e2e-reader') });
  await consumer.connect();
  try {
    // A topic just created may not have its leader in every metadata answer yet: retried within the deadline.
    await waitFor(
      async () => {
        await consumer.subscribe({ topic, fromBeginning: true });
        return true;
      },
      { timeoutMs, intervalMs: 250, description: `a subscription to ${topic}` },
    );
    await consumer.run({ eachMessage: async ({ message }) => void messages.push(message) });
    await waitFor(() => done(messages), { timeoutMs, intervalMs: 250, description: `records on ${topic}` });
  } finally {
    await consumer.disconnect();
  }
  return messages;
}

const REPO_ROOT = resolve(__dirname, '..', '..');

/** The stack's Connect worker as its pid file records it (`npm run stack -- up` wrote it). */
function connectPid(): { pid: number; startTicks: string } {
  const file = join(stackDirectory(), 'run', 'connect.pid');
  return JSON.parse(readFileSync(file, 'utf8')) as { pid: number; startTicks: string };
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? '');
  } catch {
    return false;
  }
}

/** kill -9 of the stack's Connect worker (a JVM with no shutdown: no offsets flushed, no task stopped). */
export async function killConnect(): Promise<number> {
  const { pid } = connectPid();
  process.kill(pid, 'SIGKILL');
  await waitFor(() => !alive(pid), { timeoutMs: 10_000, description: `Connect worker ${pid} gone` });
  return pid;
}

/**
 * Starts the stack's Connect worker again the way an operator does: `npm run stack -- up` starts what
 * has died and leaves the rest running; it returns once the worker answers on its REST port.
 */
export async function restartConnect(): Promise<void> {
  const up = await runProcess(
    join(REPO_ROOT, 'node_modules', '.bin', 'node'),
    ['-r', '@swc-node/register', join(REPO_ROOT, 'tools', 'stack', 'stack.ts'), 'up'],
    { cwd: REPO_ROOT, env: process.env },
  );
  if (up.code !== 0) throw new Error(`stack up exited with ${up.code}:\n${up.stdout}${up.stderr}`);
  if (!/connect ready/.test(up.stdout)) throw new Error(`stack up did not start Connect again:\n${up.stdout}`);
}
