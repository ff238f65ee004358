/**
 * CDC freshness on the stack (PostgreSQL, Debezium on Connect, Kafka, Apicurio, Redis) and `featurelog
 * dev`: a commit in PostgreSQL → its value served by POST /get-online-features, at RATE commits/s, beside
 * Debezium's own part measured in the same run (commit → record on the topic). With the stack up and its
 * FEATURELOG_* port variables exported (and `npm run build`, for the `featurelog` bin):
 *
 *   flock /tmp/featurelog-bench.lock node_modules/.bin/node -r @swc-node/register bench/cdc/freshness.bench.ts
 *
 *   BENCH_SECONDS=20 (default) BENCH_RATE=200 (commits/s) BENCH_ENTITIES=200 BENCH_POLL_MS=500 (Debezium's poll.interval.ms)
 *
 * Each commit is one autocommitted UPDATE of one row (entity i % ENTITIES gets v = i), written by one
 * psql session at the target pace. For commit i:
 * - commit time: source.ts_ms of its change event (PostgreSQL's commit timestamp, this machine's clock,
 *   milliseconds);
 * - on the topic: when a kafkajs consumer of the topic in this process receives the event (what
 *   featurelog's materializer can do at best; Debezium's part = on the topic − commit time);
 * - served: when a response of POST /get-online-features (one request after the other, so
 *   the resolution is one request's duration, printed; each asks only for the entities of commits not yet
 *   seen served) first serves v >= i for the entity.
 * featurelog's share = served − on the topic. Figures, not assertions: the machine is shared.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { JsonHttpClient } from '@featurelog/runtime';
import { stackEnv, stackPostgresEnv, stackProjectYaml, uniqueName, waitFor } from '@featurelog/testing';
import { exitOnFailure } from '../bench-entry';
import { runCli, startDev } from '../../tools/quickstart/demo';
import { JSON_CONVERTERS, dropCapture, newCapture, psqlPath, sql, startCapture } from '../../tools/stack/cdc.test-kit';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const RATE = Number(process.env.BENCH_RATE ?? 200);
const ENTITIES = Number(process.env.BENCH_ENTITIES ?? 200);
/** Debezium's poll.interval.ms: how long its task waits for more change events before it hands a batch to Connect (Debezium's default 500). */
const POLL_MS = process.env.BENCH_POLL_MS ?? '500';
const VIEW = 'fresh';

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function summary(name: string, values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const f = (n: number) => n.toFixed(1).padStart(7);
  return `${name.padEnd(44)} p50 ${f(percentile(sorted, 50))} ms  p99 ${f(percentile(sorted, 99))} ms  max ${f(sorted.at(-1) ?? NaN)} ms  (n=${sorted.length})`;
}

/** One psql session fed on stdin: each line written is one autocommitted statement. */
function psqlSession() {
  const pg = stackPostgresEnv();
  const child = spawn(
    psqlPath(),
    ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', pg.host, '-p', String(pg.port), '-U', pg.user, '-d', pg.database],
    { env: { ...process.env, PGPASSWORD: pg.password }, stdio: ['pipe', 'ignore', 'inherit'] },
  );
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { write: (line: string) => child.stdin.write(`${line}\n`), end: () => (child.stdin.end(), exited) };
}

async function main(): Promise<void> {
  const env = stackEnv();
  const capture = newCapture('bench_fresh');
  const repoDir = await mkdtemp(join(tmpdir(), 'featurelog-bench-cdc-'));
  const http = new JsonHttpClient();
  let stopDev: (() => Promise<unknown>) | undefined;
  try {
    const rows = Array.from({ length: ENTITIES }, (_, id) => `(${id}, -1)`).join(', ');
    await sql(
      `CREATE TABLE ${capture.table} (id integer PRIMARY KEY, v bigint); INSERT INTO ${capture.table} VALUES ${rows};`,
    );
    await writeFile(
      join(repoDir, 'featurelog.yaml'),
      stackProjectYaml(uniqueName('bench_cdc').replace(/-/g, '_'), {
        more: ['offlineStore: { type: local, path: data/offline }'],
      }),
    );
    await writeFile(
      join(repoDir, 'fresh.yaml'),
      [
        'kind: entity',
        'name: item',
        'join_keys: [{ name: id, type: int64 }]',
        '---',
        'kind: data_source',
        'name: items_cdc',
        'type: kafka',
        `topic: ${capture.topic}`,
        'format: debezium',
        '---',
        'kind: feature_view',
        `name: ${VIEW}`,
        'entities: [item]',
        'source: items_cdc',
        'features: [{ name: v, type: int64 }]',
        '',
      ].join('\n'),
    );
    const [dev] = await Promise.all([
      startDev(repoDir),
      startCapture(capture, { ...JSON_CONVERTERS, 'snapshot.mode': 'initial', 'poll.interval.ms': POLL_MS }),
    ]);
    stopDev = dev.stop;
    const applied = await runCli(['apply'], repoDir);
    if (applied.code !== 0) throw new Error(`apply: ${applied.stdout}${applied.stderr}`);
    const all = Array.from({ length: ENTITIES }, (_, id) => id);
    const served = async (ids: number[] = all) => {
      const response = await http.request<{ results: Array<{ values: unknown[] }> }>(
        'POST',
        `${dev.record.urls.serving}/get-online-features`,
        { features: [`${VIEW}:v`], entities: { id: ids } },
      );
      if (response.status !== 200) throw new Error(`get-online-features ${response.status}`);
      return response.body.results[1]!.values.map((value) => (value === null ? null : Number(value)));
    };
    // the snapshot's rows served: the view is live
    await waitFor(async () => (await served()).every((value) => value === -1), {
      timeoutMs: 120_000,
      intervalMs: 200,
      description: 'the snapshot served',
    });

    // On the topic: each commit's time and when it reached the topic, by its value.
    const commitAt = new Map<number, number>();
    const onTopicAt = new Map<number, number>();
    const kafka = new Kafka({ clientId: 'bench-cdc', brokers: env.kafkaBrokers, logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: uniqueName('bench-cdc'), maxWaitTimeInMs: 5 });
    await consumer.connect();
    await consumer.subscribe({ topic: capture.topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const now = Date.now();
        if (message.value === null) return;
        const event = (JSON.parse(message.value.toString('utf8')) as { payload: Record<string, unknown> }).payload as {
          op: string;
          after: { v: number } | null;
          source: { ts_ms: number };
        };
        if (event.op !== 'u' || event.after === null) return;
        commitAt.set(Number(event.after.v), Number(event.source.ts_ms));
        onTopicAt.set(Number(event.after.v), now);
      },
    });

    // Served: the first response that serves v >= i for commit i's entity.
    const servedAt = new Map<number, number>();
    const requestMs: number[] = [];
    let polling = true;
    let written = 0;
    let deadline = Number.POSITIVE_INFINITY;
    // Only the entities of commits written and not yet seen served (at most 50 a request): a short
    // request, so a fine resolution.
    const poller = (async () => {
      let pending = 0;
      while (polling || pending < written) {
        if (Date.now() > deadline) break;
        const waiting: number[] = [];
        for (let i = pending; i < written && waiting.length < 50; i++) {
          if (!servedAt.has(i) && !waiting.includes(i % ENTITIES)) waiting.push(i % ENTITIES);
        }
        if (waiting.length === 0) {
          await new Promise((resolve) => setTimeout(resolve, 1));
          continue;
        }
        const at = performance.now();
        const values = await served(waiting);
        const now = Date.now();
        requestMs.push(performance.now() - at);
        const value = new Map(waiting.map((entity, k) => [entity, values[k] ?? -1]));
        for (let i = pending; i < written; i++) {
          const shown = value.get(i % ENTITIES);
          if (!servedAt.has(i) && shown !== undefined && shown !== null && shown >= i) servedAt.set(i, now);
        }
        while (servedAt.has(pending)) pending++;
      }
    })();

    // The commits, at RATE/s from one session.
    const session = psqlSession();
    const total = Math.round(SECONDS * RATE);
    const started = performance.now();
    const load = loadavg()[0]!;
    for (let i = 0; i < total;) {
      const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * RATE) + 1);
      for (; i < due; i++) session.write(`UPDATE ${capture.table} SET v = ${i} WHERE id = ${i % ENTITIES};`);
      written = i;
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const code = await session.end();
    if (code !== 0) throw new Error(`psql exited with ${code}`);
    const writeSeconds = (performance.now() - started) / 1000;
    deadline = Date.now() + 30_000;
    polling = false;
    await poller;
    await consumer.disconnect();

    const endToEnd: number[] = [];
    const debezium: number[] = [];
    const featurelog: number[] = [];
    let missing = 0;
    for (let i = 0; i < total; i++) {
      const commit = commitAt.get(i);
      const topic = onTopicAt.get(i);
      const shown = servedAt.get(i);
      if (commit === undefined || topic === undefined || shown === undefined) {
        missing++;
        continue;
      }
      endToEnd.push(shown - commit);
      debezium.push(topic - commit);
      featurelog.push(shown - topic);
    }
    console.log(
      `${total} commits in ${writeSeconds.toFixed(1)} s (${(total / writeSeconds).toFixed(0)}/s), ${ENTITIES} entities, ` +
        `Debezium poll.interval.ms=${POLL_MS}, load average ${load.toFixed(1)} at the start; ${missing} not measured`,
    );
    console.log(summary('commit → served (end to end)', endToEnd));
    console.log(summary('commit → on the topic (Debezium + Connect)', debezium));
    console.log(summary('on the topic → served (featurelog)', featurelog));
    console.log(summary('one POST /get-online-features (resolution)', requestMs));
  } finally {
    await stopDev?.();
    http.close();
    await dropCapture(capture);
    await rm(repoDir, { recursive: true, force: true });
  }
}

exitOnFailure(main());
