import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { compareRowVersions, FeaturelogError } from '@featurelog/domain';
import type { FeatureRow } from '@featurelog/avro';
import type { RecordPosition } from '@featurelog/log';
import { redisClusterUnderTest } from '@featurelog/online-store/testing';
import { stackEnv, uniqueName, waitFor, waitForProcessGone } from '@featurelog/testing';
import {
  baseDefinitions,
  MaterializerProcess,
  openTestProject,
  randomRows,
  readRows,
  startMaterializer,
  waitForStoreToEqualFold,
  type RunningMaterializer,
  type TestProject,
} from './materializer.test-kit';

const REPO_ROOT = resolve(__dirname, '..', '..', '..');
const base = Date.now() * 1_000;

const redisCluster = redisClusterUnderTest();

// Once on the stack's Redis, once on its Redis Cluster (the app then reads `cluster: true` from featurelog.yaml).
for (const onCluster of [false, true]) {
  describe(
    `materializer crashes (kill -9) while rows stream in${onCluster ? ', on a Redis Cluster' : ''}`,
    { skip: onCluster && redisCluster.skip },
    () => {
      let test: TestProject;
      let materializer: MaterializerProcess;

      before(async () => {
        test = await openTestProject('stack', onCluster ? { redisClusterUrl: redisCluster.url! } : {});
        await test.apply(baseDefinitions());
        // The killed process stays in its group until its session times out; the next one does not wait.
        materializer = new MaterializerProcess(test.repoDir, () => uniqueName('materializer-crash'));
      });

      after(async () => {
        await materializer?.stop();
        await test?.close();
      });

      it('ends with the store equal to the fold of the log, after 8 kills at random moments', async () => {
        const seed = { value: 42 };
        const entities = 400;
        const total = 24_000;
        let produced = 0;
        let producing = true;
        // Paced so that the rows keep streaming in across the kills.
        const producer = (async () => {
          while (producing && produced < total) {
            await test.produce('driver_stats', randomRows(400, entities, seed, base));
            produced += 400;
            await new Promise((done) => setTimeout(done, 700));
          }
        })();
        const producedAtKills: number[] = [];
        for (let kill = 0; kill < 8; kill++) {
          const started = Date.now();
          await materializer.start();
          // Somewhere between just joined and busy writing.
          await new Promise((done) => setTimeout(done, 200 + Math.random() * 1_500));
          await materializer.kill9();
          producedAtKills.push(produced);
          if (process.env.FEATURELOG_TEST_VERBOSE) {
            process.stderr.write(`kill ${kill + 1}: ${produced} rows produced, up after ${Date.now() - started} ms\n`);
          }
        }
        producing = false;
        await producer;
        await materializer.start();
        await waitForStoreToEqualFold(test, {
          entities,
          timeoutMs: 120_000,
          intervalMs: 500,
        });
        assert.ok(
          new Set(producedAtKills).size >= 5,
          `rows streamed in during the kills (produced at each kill: ${producedAtKills.join(', ')})`,
        );
        assert.equal(materializer.launches, 9);
      });
    },
  );
}

/**
 * The broker of the stack these tests run against (FEATURELOG_STACK_DIR, else <repo>/.stack), when it
 * is the broker the tests connect to: only then may a test restart it.
 */
function ownStackBroker(): { pidFile: string } | string {
  const stackDir = process.env.FEATURELOG_STACK_DIR ?? join(REPO_ROOT, '.stack');
  const pidFile = join(stackDir, 'run', 'kafka.pid');
  if (!existsSync(pidFile)) return `no Kafka pid file at ${pidFile}`;
  const properties = join(stackDir, 'kafka', 'server.properties');
  const listener = existsSync(properties)
    ? /^advertised\.listeners=PLAINTEXT:\/\/(\S+)$/m.exec(readFileSync(properties, 'utf8'))?.[1]
    : undefined;
  const brokers = stackEnv().kafkaBrokers;
  if (listener === undefined || brokers.length !== 1 || brokers[0] !== listener) {
    return `the stack's broker (${listener ?? 'unknown'}) is not the one the tests use (${brokers.join(',')})`;
  }
  return { pidFile };
}

describe('the broker restarted while rows are produced', () => {
  const broker = ownStackBroker();
  let test: TestProject;
  let materializer: RunningMaterializer;

  before(async () => {
    test = await openTestProject('stack');
    await test.apply(baseDefinitions());
    materializer = await startMaterializer(test);
  });

  after(async () => {
    await materializer?.stop();
    await test?.close();
  });

  it(
    'loses no acknowledged row: every append that resolved is in the topic at its position, and online',
    { skip: typeof broker === 'string' && broker },
    async () => {
      const { pidFile } = broker as { pidFile: string };
      const seed = { value: 7 };
      const acknowledged: Array<{ row: FeatureRow; position: RecordPosition }> = [];
      const failures: string[] = [];
      let producing = true;
      // One KafkaEventLog throughout: after the restart it must recover by itself (a new idempotent
      // producer when the broker lost its sequence), failing appends only as retriable meanwhile.
      const producer = (async () => {
        while (producing) {
          const rows = randomRows(200, 300, seed, base);
          try {
            const positions = await test.produce('driver_stats', rows);
            rows.forEach((row, i) => acknowledged.push({ row, position: positions[i]! }));
          } catch (error) {
            // Not acknowledged: may or may not be in the log; the fold decides either way.
            if (!(error instanceof FeaturelogError)) throw error;
            failures.push(`${error.retriable ? 'retriable' : 'NOT retriable'} ${error.code}: ${error.message}`);
            await new Promise((done) => setTimeout(done, 100));
          }
        }
      })();
      await waitFor(() => acknowledged.length >= 2_000, { description: 'rows before the restart', timeoutMs: 30_000 });
      const { pid } = JSON.parse(readFileSync(pidFile, 'utf8')) as { pid: number };
      // An abrupt stop (the broker is the group leader of its own process group, see tools/stack).
      process.kill(-pid, 'SIGKILL');
      await waitForProcessGone(pid, { description: 'Kafka to stop', timeoutMs: 60_000 });
      const before = acknowledged.length;
      const up = spawn(process.execPath, ['-r', '@swc-node/register', 'tools/stack/stack.ts', 'up'], {
        cwd: REPO_ROOT,
        stdio: 'ignore',
      });
      const upCode = await new Promise<number | null>((done) => up.once('exit', done));
      assert.equal(upCode, 0, 'the stack came back');
      await waitFor(
        () => {
          if (acknowledged.length >= before + 2_000) return true;
          throw new Error(
            `${acknowledged.length - before} acknowledged since; failures: ${failures.slice(-3).join(' | ')}`,
          );
        },
        { description: 'rows acknowledged after the restart', timeoutMs: 120_000 },
      );
      producing = false;
      await producer;
      const restarted = JSON.parse(readFileSync(pidFile, 'utf8')) as { pid: number };
      assert.notEqual(restarted.pid, pid, 'Kafka is a new process');
      assert.deepEqual(
        failures.filter((failure) => !failure.startsWith('retriable')),
        [],
        'every failed append was reported as retriable',
      );

      // Every acknowledged row is in the log at the position append() returned, and the store is the fold of the log.
      const folded = await waitForStoreToEqualFold(test, { timeoutMs: 120_000, intervalMs: 500 });
      const logRows = (await readRows(test, 'driver_stats')).rows;
      const inLog = new Map(logRows.map(({ position, row }) => [`${position.partition}/${position.offset}`, row]));
      const identity = (row: FeatureRow | undefined) =>
        row === undefined ? 'nothing' : JSON.stringify([row.driver_id, row.event_timestamp, row.trips]);
      const missing = acknowledged.filter(
        ({ row, position }) => identity(inLog.get(`${position.partition}/${position.offset}`)) !== identity(row),
      );
      assert.equal(
        missing.length,
        0,
        `of ${acknowledged.length} acknowledged rows, these are not at their position: ${JSON.stringify(missing.slice(0, 3))}`,
      );
      for (const { row, position } of acknowledged) {
        const version = {
          eventTimestamp: row.event_timestamp as number,
          createdTimestamp: (row.created_timestamp as number | null) ?? null,
          position,
        };
        const winner = folded.get(`driver_id=${row.driver_id as number}`);
        assert.ok(winner && compareRowVersions(winner.version, version) >= 0, 'stored, or superseded by a newer row');
      }
      if (process.env.FEATURELOG_TEST_VERBOSE) {
        process.stderr.write(
          `${acknowledged.length} acknowledged, ${failures.length} failed: ${failures.join(' | ')}\n`,
        );
      }
    },
  );
});
