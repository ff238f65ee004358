import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { JsonHttpClient, RemoteEventLog, liveDevServer } from '@featurelog/runtime';
import { stackEnv, uniqueName, waitFor } from '@featurelog/testing';
import { assertDemoResults, expectedTrainingSet, plain } from './demo-oracle.test-kit';
import {
  DEMO_SERVICE,
  DEMO_VIEW,
  LIVE_DRIVERS,
  runCli,
  runDemo,
  startDev,
  switchConfigBlock,
  type DemoResult,
} from '../../../../tools/quickstart/demo';

const cleanup: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
});

describe('the demo, on the embedded default and on Kafka + Apicurio + Redis with only featurelog.yaml changed', () => {
  let embedded: DemoResult;

  it('embedded: online features for the drivers and the point-in-time training set', async () => {
    embedded = await runDemo();
    cleanup.push(() => rm(join(embedded.repoDir, '..'), { recursive: true, force: true }));
    assertDemoResults(embedded, await expectedTrainingSet());
  });

  it('distributed: the same results with the log, schema registry and online store blocks switched', async () => {
    const env = stackEnv();
    const distributed = await runDemo({
      configure: async (repoDir) => {
        const file = join(repoDir, 'featurelog.yaml');
        // Topics, subjects and Redis keys are shared with other runs: a project of its own.
        const text = await readFile(file, 'utf8');
        await writeFile(
          file,
          text.replace(/^project: drivers$/m, `project: ${uniqueName('drivers').replace(/-/g, '_')}`),
        );
        await switchConfigBlock(repoDir, 'log', ['type: kafka', `brokers: ${env.kafkaBrokers.join(',')}`]);
        await switchConfigBlock(repoDir, 'schemaRegistry', ['type: confluent', `url: ${env.schemaRegistryUrl}`]);
        await switchConfigBlock(repoDir, 'onlineStore', ['type: redis', `url: ${env.redisUrl}`]);
      },
    });
    cleanup.push(() => rm(join(distributed.repoDir, '..'), { recursive: true, force: true }));
    assert.match(distributed.devOutput(), /log: +kafka/);
    assert.match(distributed.devOutput(), /online store: +redis/);
    assert.deepEqual(distributed.online, embedded.online);
    assert.deepEqual(plain(distributed.training), plain(embedded.training));
  });
});

describe('featurelog dev on the embedded default: kill -9 and a held log directory', () => {
  it('restarts after kill -9 with every acknowledged row, and the projections catch up', async () => {
    const demo = await runDemo({ keepRunning: true });
    cleanup.push(() => rm(join(demo.repoDir, '..'), { recursive: true, force: true }));
    cleanup.push(() => demo.stopDev());
    const http = new JsonHttpClient();
    cleanup.push(async () => http.close());

    // Stream pushes, one row per request, and kill -9 the dev server in the middle of it.
    const acknowledged: Array<{ driver_id: number; avg_daily_trips: number }> = [];
    let streaming = true;
    const pusher = (async () => {
      for (let i = 0; streaming; i++) {
        const row = { driver_id: LIVE_DRIVERS[i % LIVE_DRIVERS.length]!, avg_daily_trips: 10_000 + i };
        const response = await http
          .request('POST', `${demo.dev.urls.serving}/push`, {
            view: DEMO_VIEW,
            rows: [{ ...row, event_timestamp: new Date().toISOString(), conv_rate: 0.5, acc_rate: 0.5 }],
          })
          .catch(() => undefined);
        if (response?.status === 200) acknowledged.push(row);
        else if (response === undefined) return;
      }
    })();
    await waitFor(() => acknowledged.length >= 40, { timeoutMs: 30_000, description: '40 pushes acknowledged' });
    process.kill(demo.dev.pid, 'SIGKILL');
    await demo.stopDev();
    streaming = false;
    await pusher;

    // The record and the lock name a dead process: a new dev server takes over.
    assert.equal(await liveDevServer(demo.repoDir), undefined);
    const dev = await startDev(demo.repoDir);
    cleanup.push(() => dev.stop());

    const log = new RemoteEventLog(dev.record);
    cleanup.push(() => log.close());
    const ends = await log.endOffsets(`drivers.features.${DEMO_VIEW}`);
    const appended = [...ends.values()].reduce((sum, end) => sum + end, 0);
    const before = 840 + LIVE_DRIVERS.length * 3 + 1;
    assert.ok(
      appended >= before + acknowledged.length,
      `${appended} rows in the log, expected at least ${before} + ${acknowledged.length} acknowledged`,
    );

    // The materializer catches up: each driver serves its last acknowledged push (or a later one that
    // reached the log before the kill without its answer).
    const lastAcked = new Map(acknowledged.map((row) => [row.driver_id, row.avg_daily_trips]));
    await waitFor(
      async () => {
        const response = await http.request<{
          metadata: { feature_names: string[] };
          results: Array<{ values: unknown[] }>;
        }>('POST', `${dev.record.urls.serving}/get-online-features`, {
          features: [`${DEMO_VIEW}:avg_daily_trips`],
          entities: { driver_id: LIVE_DRIVERS },
        });
        return (
          response.status === 200 &&
          LIVE_DRIVERS.every((driver, i) => Number(response.body.results[1]!.values[i]) >= (lastAcked.get(driver) ?? 0))
        );
      },
      { timeoutMs: 60_000, description: 'every driver serves at least its last acknowledged push' },
    );

    // The registry and the compactor come back healthy; the registry still holds the applied definitions.
    await waitFor(
      async () => (await http.request<{ status: string }>('GET', `${dev.record.urls.dev}/health`)).body.status === 'ok',
      { timeoutMs: 60_000, description: 'every app healthy after the restart' },
    );
    const services = await runCli(['--json', 'ls', 'feature-services'], demo.repoDir);
    assert.equal(services.code, 0, services.stderr);
    assert.deepEqual(
      (JSON.parse(services.stdout) as Array<{ name: string }>).map((service) => service.name),
      [DEMO_SERVICE],
    );
  });

  it('refuses a second process on the same embedded log, saying which process holds it and what to do', async () => {
    const demo = await runDemo({ keepRunning: true });
    cleanup.push(() => rm(join(demo.repoDir, '..'), { recursive: true, force: true }));
    cleanup.push(() => demo.stopDev());

    const second = await runCli(['dev', '--any-ports'], demo.repoDir);
    assert.equal(second.code, 1);
    assert.match(second.stderr, new RegExp(`featurelog dev \\(pid ${demo.dev.pid}\\) is already running on this repo`));
    assert.match(second.stderr, new RegExp(`kill ${demo.dev.pid}`));

    // A command that would open the held online store itself is refused, and told to use the dev server.
    const backfill = await runCli(['backfill', DEMO_VIEW, '--local'], demo.repoDir);
    assert.equal(backfill.code, 1);
    assert.match(backfill.stderr, new RegExp(`featurelog dev \\(pid ${demo.dev.pid}\\) is running on this repo`));
    assert.match(backfill.stderr, new RegExp(demo.dev.urls.serving.replace(/[.]/g, '\\.')));

    // The dev server is unharmed: it still answers.
    const http = new JsonHttpClient();
    try {
      const health = await http.request<{ status: string }>('GET', `${demo.dev.urls.dev}/health`);
      assert.equal(health.body.status, 'ok');
    } finally {
      http.close();
    }
    assert.equal(await demo.stopDev(), 0);
  });
});
