import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { topicNames } from '@featurelog/domain';
import { loadProjectConfig } from '@featurelog/config';
import { ProjectRuntime } from '@featurelog/runtime';
import { stackEnvVars, stackProjectYaml, uniqueName, waitFor } from '@featurelog/testing';
import { liveSegments, segmentCoverage, SegmentEventSerde, SegmentLog } from '@featurelog/offline-store';
import {
  assertExactlyOnce,
  logTrips,
  produceTrips,
  segmentFilesOnDisk,
  tripDefinitions,
  tripRows,
} from './compactor.test-kit';

const REPO_ROOT = resolve(__dirname, '..', '..', '..');
const NODE = process.execPath;
const CHILD = join(REPO_ROOT, 'apps', 'compactor', 'src', 'compactor-child.test-kit.ts');
const PYTHON = [
  process.env.FEATURELOG_PYTHON,
  join(REPO_ROOT, '.venv', 'bin', 'python'),
  '/work/main/.venv/bin/python',
].find((candidate) => candidate !== undefined && existsSync(candidate));

/** Where each child SIGKILLs itself, if anywhere: the windows between writing, announcing and deleting. */
const SELF_KILL = [undefined, 'beforeAnnounce:0.5', 'segmentWritten:0.3', 'mergeWritten:0.6', 'mergeAnnounced:0.6'];
const KILLS = 8;
const ROWS = 12_000;

describe('compactor killed with SIGKILL at random moments on Kafka + schema registry', () => {
  let repoDir: string;
  let runtime: ProjectRuntime;
  let project: string;
  const definitions = tripDefinitions('trips', 3);
  const children = new Set<ChildProcess>();

  before(async () => {
    project = uniqueName('cmpkill').replace(/[^a-z0-9_]/gi, '_');
    repoDir = await mkdtemp(join(tmpdir(), 'compactor-kill-'));
    await writeFile(
      join(repoDir, 'featurelog.yaml'),
      stackProjectYaml(project, {
        onlineStore: null,
        more: [`offlineStore: { type: local, path: '${join(repoDir, 'offline')}' }`],
      }),
    );
    runtime = await ProjectRuntime.open(await loadProjectConfig(repoDir, { env: {} }));
    await runtime.registry().applier.apply(definitions);
  });

  after(async () => {
    for (const child of children) child.kill('SIGKILL');
    await runtime?.close();
    if (repoDir) await rm(repoDir, { recursive: true, force: true });
  });

  function spawnCompactor(selfKill: string | undefined): {
    child: ChildProcess;
    exited: Promise<number | null>;
    output: () => string;
  } {
    let output = '';
    const child = spawn(NODE, ['-r', '@swc-node/register', CHILD], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        ...stackEnvVars(),
        FEATURELOG_REPO: repoDir,
        FEATURELOG_COMPACTOR_PORT: '0',
        FEATURELOG_COMPACTOR_MAX_ROWS: '400',
        FEATURELOG_COMPACTOR_MAX_AGE_MS: '300',
        FEATURELOG_COMPACTOR_MERGE_INTERVAL_MS: '800',
        FEATURELOG_COMPACTOR_GC_INTERVAL_MS: '500',
        FEATURELOG_COMPACTOR_ORPHAN_GRACE_MS: '0',
        FEATURELOG_COMPACTOR_REPLACED_GRACE_MS: '0',
        ...(selfKill === undefined ? {} : { FEATURELOG_TEST_SELF_KILL: selfKill }),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolveExit) =>
      child.once('exit', (code) => {
        children.delete(child);
        resolveExit(code);
      }),
    );
    return { child, exited, output: () => output };
  }

  const segmentsEnd = async () => (await runtime.log.endOffsets(topicNames.segments(project))).get(0) ?? 0;

  it(
    'leaves every offset in exactly one live segment, with the log rows, readable by pyarrow',
    { timeout: 600_000 },
    async () => {
      const rows = tripRows(ROWS, 42, 4, 200);
      // Rows are produced while compactors run and die, released round by round: every round has rows
      // to compact (a producer that finished early would leave a later round nothing to announce).
      const chunks = Math.ceil(rows.length / 300);
      let released = 0;
      let wake = () => {};
      const releaseUpTo = (count: number) => {
        released = Math.max(released, Math.min(chunks, count));
        wake();
      };
      let produced = 0;
      const producing = (async () => {
        for (let chunk = 0; chunk < chunks; chunk++) {
          while (chunk >= released) await new Promise<void>((resolveWake) => (wake = resolveWake));
          const part = rows.slice(chunk * 300, chunk * 300 + 300);
          await produceTrips(runtime.log, runtime.schemas, project, definitions, part, 300);
          produced = Math.min(rows.length, chunk * 300 + 300);
        }
      })();

      let selfKilled = 0;
      for (let round = 0; round < KILLS; round++) {
        const startEnd = await segmentsEnd();
        releaseUpTo(Math.ceil(((round + 1) * chunks) / KILLS));
        const selfKill = SELF_KILL[round % SELF_KILL.length];
        const { child, exited, output } = spawnCompactor(selfKill);
        let exitedBeforeKill = false;
        void exited.then(() => (exitedBeforeKill = true));
        // Kill once this child has announced something (so each round makes progress), a random moment later.
        await waitFor(async () => exitedBeforeKill || (await segmentsEnd()) > startEnd, {
          timeoutMs: 60_000,
          description: `round ${round}: the compactor to announce a segment`,
        }).catch((error: Error) => {
          throw new Error(`${error.message}\ncompactor output:\n${output()}`);
        });
        if (!exitedBeforeKill) {
          await new Promise((resolveDelay) => setTimeout(resolveDelay, Math.floor(Math.random() * 700)));
          child.kill('SIGKILL');
        } else {
          selfKilled++;
        }
        const code = await exited;
        assert.notEqual(code, 1, `round ${round}: the compactor failed by itself: ${output()}`);
      }
      await producing;
      assert.equal(produced, ROWS);

      // A last compactor, never killed, finishes the job from whatever the kills left behind.
      const last = spawnCompactor(undefined);
      const topic = topicNames.features(project, { name: 'trips', version: 1 });
      const segmentLog = new SegmentLog({
        log: runtime.log,
        serde: new SegmentEventSerde(runtime.schemas, project),
        project,
      });
      await waitFor(
        async () => {
          await segmentLog.catchUp();
          const covered = new Map(
            segmentCoverage(segmentLog.catalog, 'trips').partitions.map((p) => [p.partition, p.coveredUntil]),
          );
          for (const [partition, end] of await runtime.log.endOffsets(topic)) {
            if ((covered.get(partition) ?? 0) < end) return false;
          }
          return true;
        },
        {
          timeoutMs: 120_000,
          intervalMs: 200,
          description: `the last compactor covers the log (output: ${last.output()})`,
        },
      );
      // Let it merge what is small, then stop it cleanly.
      const mergesBefore = segmentLog.catalog.eventCount;
      await waitFor(
        async () => {
          await segmentLog.catchUp();
          return segmentLog.catalog.eventCount > mergesBefore || undefined;
        },
        { timeoutMs: 30_000, intervalMs: 200, description: 'a merge after catching up' },
      ).catch(() => undefined);
      last.child.kill('SIGTERM');
      assert.equal(await last.exited, 0, last.output());
      await segmentLog.catchUp();

      const result = await assertExactlyOnce({
        root: join(repoDir, 'offline'),
        catalog: segmentLog.catalog,
        view: 'trips',
        log: await logTrips(runtime.log, runtime.schemas, project, definitions),
      });
      assert.equal(result.rows, ROWS);
      const live = liveSegments(segmentLog.catalog, 'trips');
      assert.deepEqual(segmentFilesOnDisk(join(repoDir, 'offline'), project, 'trips'), live.map((s) => s.path).sort());
      const merged = segmentLog.catalog.seen.size - live.length;
      process.stdout.write(
        `# ${KILLS} kills (${selfKilled} self-inflicted inside a write/announce/merge window), ` +
          `${segmentLog.catalog.eventCount} segment events, ${live.length} live segments, ${merged} replaced by merges, ` +
          `${segmentLog.catalog.ignored.length} refused announcements\n`,
      );
      assert.ok(merged > 0, 'small segments were merged');

      if (PYTHON === undefined || spawnSync(PYTHON, ['-c', 'import pyarrow'], { stdio: 'ignore' }).status !== 0) {
        process.stdout.write('# pyarrow check skipped: no python with pyarrow\n');
        return;
      }
      const script = `
import json, sys, pyarrow.parquet as pq
files = sys.argv[1:]
rows = 0
types = {}
for f in files:
    t = pq.read_table(f)
    rows += t.num_rows
    types = {field.name: str(field.type) for field in t.schema}
print(json.dumps({"rows": rows, "types": types}))
`;
      const read = spawnSync(PYTHON, ['-c', script, ...live.map((s) => join(repoDir, 'offline', s.path))], {
        encoding: 'utf8',
      });
      assert.equal(read.status, 0, read.stderr);
      const parsed = JSON.parse(read.stdout) as { rows: number; types: Record<string, string> };
      assert.equal(parsed.rows, ROWS);
      assert.equal(parsed.types.event_timestamp, 'timestamp[us, tz=UTC]');
      assert.equal(parsed.types.created_timestamp, 'timestamp[us, tz=UTC]');
      assert.equal(parsed.types.rider_id, 'int64');
      assert.equal(parsed.types.tags, 'list<element: string>');
    },
  );
});
