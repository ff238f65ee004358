/**
 * Registry fold bench: how fast definition events become registry state, beside how fast the same
 * topic can merely be read. For each log (the embedded file log, and Kafka at FEATURELOG_KAFKA_BROKERS
 * with the schema registry at FEATURELOG_SCHEMA_REGISTRY_URL):
 *
 *   node_modules/.bin/node -r @swc-node/register bench/registry/registry.bench.ts
 *   BENCH_EVENTS=10000 …   (short mode; default 100000)   BENCH_LOGS=file|kafka|file,kafka
 *
 * BENCH_EVENTS changesets (Avro, Confluent wire format, as `apply` writes them; upserts over 1,000
 * entities and 100 views, a delete every 13th, a refused race every 97th) are appended to a fresh
 * `<project>.registry`, then, in one run, timed:
 * - raw read: EventLog.read of the whole topic, nothing decoded (the baseline);
 * - decode only: the same read, every record decoded into a changeset, nothing folded;
 * - fold: RegistryFollower.catchUp from offset 0 (read + decode + fold, in memory);
 * - fold + checkpoint: the same with the registry app's classic-level projection attached;
 * - app cold start: apps/registry/src/main.ts spawned with no state, until GET /registry answers
 *   200 at the last version (process start included); then warm start, from its checkpoint; beside
 *   the same app started on the still empty registry (process start, boot and connecting alone).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import Table3 from 'cli-table3';
import { loadProjectConfig } from '@featurelog/config';
import type { RegistryChangeset } from '@featurelog/domain';
import { RegistryFollower, RegistryStateStore } from '@featurelog/registry';
import { ProjectRuntime } from '@featurelog/runtime';
import { benchFeatureRepo } from '../bench-repo';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 100_000);
const LOGS = (process.env.BENCH_LOGS ?? 'file,kafka').split(',');
const APPEND_BATCH = 1_000;
const FOLD_BATCH = 5_000;
const REPO_ROOT = resolve(__dirname, '..', '..');

function changesets(count: number): RegistryChangeset[] {
  const out: RegistryChangeset[] = [];
  const live = new Set<string>();
  let version = 0;
  for (let offset = 0; offset < count; offset++) {
    const base = { applyId: `apply-${offset}`, appliedAt: 1_735_689_600_000_000 + offset * 1_000 };
    if (offset % 97 === 96) {
      out.push({
        ...base,
        basedOnVersion: Math.max(0, version - 1),
        changes: [{ op: 'delete', kind: 'entity', name: 'x' }],
      });
      continue;
    }
    const entity = `driver_${offset % 1_000}`;
    if (offset % 13 === 12 && live.has(entity)) {
      out.push({ ...base, basedOnVersion: version, changes: [{ op: 'delete', kind: 'entity', name: entity }] });
      live.delete(entity);
    } else if (offset % 10 === 0) {
      const view = `stats_${offset % 100}`;
      out.push({
        ...base,
        basedOnVersion: version,
        changes: [
          {
            op: 'upsert',
            kind: 'feature_view',
            name: view,
            definition: {
              name: view,
              version: 1,
              entities: ['driver'],
              features: Array.from({ length: 8 }, (_, i) => ({ name: `f${i}`, type: 'float64' as const })),
              ttlSeconds: 3_600,
              online: true,
              offline: true,
              description: `revision ${offset}`,
              tags: { team: 'ranking' },
            },
          },
        ],
      });
    } else {
      const definition = {
        name: entity,
        joinKeys: [{ name: 'driver_id', type: 'int64' as const }],
        description: `revision ${offset}`,
      };
      out.push({
        ...base,
        basedOnVersion: version,
        changes: [{ op: 'upsert', kind: 'entity', name: entity, definition }],
      });
      live.add(entity);
    }
    version = offset + 1;
  }
  return out;
}

interface Row {
  log: string;
  step: string;
  seconds: number;
}

async function timed(work: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await work();
  return (performance.now() - started) / 1_000;
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  return port;
}

/** Seconds from spawning the registry app until GET /registry answers 200 at `version`. */
async function appStart(repoDir: string, stateDir: string, version: number): Promise<number> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(
    join(REPO_ROOT, 'node_modules', '.bin', 'node'),
    ['-r', '@swc-node/register', 'apps/registry/src/main.ts'],
    {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        FEATURELOG_REPO: repoDir,
        FEATURELOG_REGISTRY_STATE: stateDir,
        FEATURELOG_REGISTRY_PORT: String(port),
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the registry app exited with ${child.exitCode}`);
      try {
        const response = await fetch(`http://127.0.0.1:${port}/registry`);
        if (response.status === 200 && ((await response.json()) as { version: number }).version === version) break;
      } catch {
        // not listening yet
      }
      await new Promise((done) => setTimeout(done, 20));
    }
    return (performance.now() - started) / 1_000;
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
}

async function benchLog(kind: 'file' | 'kafka', events: RegistryChangeset[]): Promise<Row[]> {
  const { dir, project } = await benchFeatureRepo(kind, 'registry');
  const rows: Row[] = [];
  const row = (step: string, seconds: number) => rows.push({ log: kind, step, seconds });
  try {
    // Process start, Nest boot and connecting, with nothing to fold: what the two app rows include besides the fold.
    row('app start, empty registry → 200', await appStart(dir, join(dir, 'empty-state'), 0));
    const runtime = await ProjectRuntime.open(await loadProjectConfig(dir));
    const { log, registryCodec: codec } = runtime;
    const topic = runtime.topics.project.find((spec) => spec.name === `${project}.registry`)!;
    await log.ensureTopic(topic);
    row(
      'append (encode + write)',
      await timed(async () => {
        for (let i = 0; i < events.length; i += APPEND_BATCH) {
          const values = await Promise.all(events.slice(i, i + APPEND_BATCH).map((event) => codec.encode(event)));
          await log.append(
            topic.name,
            values.map((value) => ({ key: null, value, partition: 0 })),
          );
        }
      }),
    );
    const end = (await log.endOffsets(topic.name)).get(0) ?? 0;
    if (end !== events.length) throw new Error(`expected ${events.length} records, the log holds ${end}`);

    let read = 0;
    row(
      'raw read (baseline)',
      await timed(async () => {
        for await (const records of log.read(topic.name, 0, 0, { untilOffset: end, maxBatch: FOLD_BATCH })) {
          read += records.length;
        }
      }),
    );
    if (read !== end) throw new Error(`raw read saw ${read} of ${end} records`);
    row(
      'decode only',
      await timed(async () => {
        for await (const records of log.read(topic.name, 0, 0, { untilOffset: end, maxBatch: FOLD_BATCH })) {
          for (const record of records) await codec.decode(record.value!);
        }
      }),
    );
    let version = 0;
    row(
      'fold (RegistryFollower.catchUp)',
      await timed(async () => {
        const follower = new RegistryFollower({ log, codec, project, maxBatch: FOLD_BATCH });
        await follower.catchUp();
        follower.assertComplete();
        version = follower.state.version;
      }),
    );
    row(
      'fold + classic-level checkpoint',
      await timed(async () => {
        const store = await RegistryStateStore.open(join(dir, 'bench-state'));
        const follower = new RegistryFollower({ log, codec, project, maxBatch: FOLD_BATCH });
        store.attach(follower);
        await follower.catchUp();
        await store.close();
      }),
    );
    // The embedded log allows one process at a time: the app opens it after this one closes it.
    await runtime.close();
    const stateDir = join(dir, 'app-state');
    row('app cold start → GET /registry 200', await appStart(dir, stateDir, version));
    row('app warm start (checkpoint) → 200', await appStart(dir, stateDir, version));
    return rows;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const events = changesets(EVENTS);
  process.stdout.write(`registry bench: ${EVENTS} changesets, fold batch ${FOLD_BATCH}, logs ${LOGS.join(', ')}\n`);
  const rows: Row[] = [];
  for (const kind of LOGS) {
    if (kind !== 'file' && kind !== 'kafka') throw new Error(`BENCH_LOGS: unknown log '${kind}'`);
    rows.push(...(await benchLog(kind, events)));
  }
  const table = new Table3({
    head: ['log', 'step', 'seconds', 'events/s', 'time × raw read'],
    style: { head: [], border: [] },
    colAligns: ['left', 'left', 'right', 'right', 'right'],
  });
  for (const row of rows) {
    const baseline = rows.find((r) => r.log === row.log && r.step === 'raw read (baseline)')!.seconds;
    table.push([
      row.log,
      row.step,
      row.seconds.toFixed(3),
      row.step.includes('empty') ? '—' : Math.round(EVENTS / row.seconds).toLocaleString('en-US'),
      (row.seconds / baseline).toFixed(2),
    ]);
  }
  process.stdout.write(`${table.toString()}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
