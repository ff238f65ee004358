import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { valueSubject } from '@featurelog/domain';
import type { DeadLetterPage, JobState, RedriveResult } from '@featurelog/jobs';
import { JsonHttpClient, RemoteEventLog } from '@featurelog/runtime';
import { waitFor } from '@featurelog/testing';
import { DEMO_VIEW, runCli, runDemo, startDev, type DemoResult } from '../../../../tools/quickstart/demo';
import { unknownSchemaPoison } from '../../../../tools/quickstart/demo.test-kit';

/**
 * Jobs and dead letters against the real apps: `featurelog dev` on the example repo (embedded
 * default), driven by the CLI and the jobs app's REST API.
 */
const cleanup: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
});

function json<T>(result: { code: number; stdout: string; stderr: string }): T {
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(`no JSON (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  }
}

describe('a job nobody picks up is cancelled and never runs later', () => {
  it('export without a jobs app fails JOB_NOT_PICKED_UP, is cancelled, and a jobs app started later skips it', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'featurelog-ops-'));
    cleanup.push(() => rm(parent, { recursive: true, force: true }));
    const repo = join(parent, 'repo');
    assert.equal((await runCli(['init', repo], parent)).code, 0);
    assert.equal((await runCli(['apply'], repo)).code, 0);
    await writeFile(join(repo, 'entities.csv'), 'driver_id,event_timestamp\n1001,2025-01-01T05:00:00Z\n');
    const exported = await runCli(
      [
        'export',
        '--entities',
        'entities.csv',
        '--service',
        'driver_activity',
        '--output',
        'late.parquet',
        '--pickup-timeout',
        '1',
      ],
      repo,
    );
    assert.equal(exported.code, 1);
    assert.match(exported.stderr, /JOB_NOT_PICKED_UP: .*so it was cancelled and will not run later/);
    const [job] = json<JobState[]>(await runCli(['--json', 'jobs', 'ls'], repo));
    assert.equal(job!.status, 'cancelled');

    const dev = await startDev(repo);
    cleanup.push(() => dev.stop());
    // A later job finishing means the jobs app has folded (and skipped) the cancelled one before it.
    const backfill = await runCli(['backfill', DEMO_VIEW], repo);
    assert.equal(backfill.code, 0, backfill.stderr);
    const shown = json<JobState>(await runCli(['--json', 'jobs', 'show', job!.jobId], repo));
    assert.equal(shown.status, 'cancelled');
    assert.equal(shown.worker, undefined, 'no worker ever reported on it');
    assert.deepEqual(
      (await readdir(repo)).filter((name) => name.includes('late.parquet')),
      [],
      'no output, not even a temporary file',
    );
    await dev.stop();
  });
});

describe('jobs and dead letters on featurelog dev', () => {
  let demo: DemoResult;
  const http = new JsonHttpClient();

  before(async () => {
    demo = await runDemo({ keepRunning: true });
    cleanup.push(() => rm(join(demo.repoDir, '..'), { recursive: true, force: true }));
    cleanup.push(() => demo.stopDev());
    cleanup.push(async () => http.close());
  });

  it('a finished backfill reports progress that ends at its total', async () => {
    const result = await runCli(['--json', 'backfill', DEMO_VIEW], demo.repoDir);
    assert.equal(result.code, 0, result.stderr);
    const jobs = json<JobState[]>(await runCli(['--json', 'jobs', 'ls', '--status', 'finished'], demo.repoDir));
    const backfill = jobs.filter((job) => job.spec.kind === 'backfill').at(-1)!;
    assert.match(backfill.progress!.phase, /writing driver_hourly_stats to the online store/);
    assert.ok(backfill.progress!.total >= 840, `total ${backfill.progress!.total}`);
    assert.equal(backfill.progress!.done, backfill.progress!.total);
  });

  it('cancels a running export over REST: it stops, leaves no file, and ends cancelled; a second cancel is 409', async () => {
    const jobsUrl = demo.dev.urls.jobs!;
    // Big enough that the export is still running when the cancel arrives.
    const lines = ['driver_id,event_timestamp'];
    for (let i = 0; i < 600_000; i++) {
      lines.push(`${1001 + (i % 5)},2025-01-0${1 + (i % 7)}T${String(i % 24).padStart(2, '0')}:00:00Z`);
    }
    await writeFile(join(demo.repoDir, 'many.csv'), `${lines.join('\n')}\n`);
    const exporting = runCli(
      ['export', '--entities', 'many.csv', '--service', 'driver_activity', '--output', 'big.parquet'],
      demo.repoDir,
    );
    let running: JobState | undefined;
    await waitFor(
      async () => {
        const jobs = (await http.request<JobState[]>('GET', `${jobsUrl}/jobs`)).body;
        running = jobs.find(
          (job) =>
            job.spec.kind === 'export' && (job.spec.request as { output: string }).output.endsWith('big.parquet'),
        );
        return running?.status === 'running';
      },
      { timeoutMs: 60_000, intervalMs: 20, description: 'the export runs' },
    );
    const cancel = await http.request<JobState>('POST', `${jobsUrl}/jobs/${running!.jobId}/cancel`, { reason: 'test' });
    assert.equal(cancel.status, 202, JSON.stringify(cancel.body));
    assert.ok(['cancelling', 'cancelled'].includes(cancel.body.status));

    const exported = await exporting;
    assert.equal(exported.code, 1, exported.stdout);
    assert.match(exported.stderr, /JOB_CANCELLED: job .* was cancelled \(test\)/);
    const shown = json<JobState>(await runCli(['--json', 'jobs', 'show', running!.jobId], demo.repoDir));
    assert.equal(shown.status, 'cancelled');
    assert.notEqual(shown.worker, undefined, 'its worker confirmed');
    assert.deepEqual(
      (await readdir(demo.repoDir)).filter((name) => name.includes('big.parquet')),
      [],
      'no output file, no temporary file',
    );
    const again = await http.request<{ code: string; message: string }>(
      'POST',
      `${jobsUrl}/jobs/${running!.jobId}/cancel`,
    );
    assert.equal(again.status, 409);
    assert.equal(again.body.code, 'JOB_NOT_CANCELLABLE');
    assert.match(again.body.message, /it is cancelled/);
    assert.equal((await http.request('POST', `${jobsUrl}/jobs/no-such-job/cancel`)).status, 404);
    const viaCli = await runCli(['jobs', 'cancel', running!.jobId], demo.repoDir);
    assert.equal(viaCli.code, 1);
    assert.match(viaCli.stderr, /JOB_NOT_CANCELLABLE/);
  });

  it('a poison record is listed, shown, fails again until its schema is back, then is redriven once and served', async () => {
    const jobsUrl = demo.dev.urls.jobs!;
    // The cause: a producer wrote with a schema id the project's schema registry does not know (it
    // registered its newer schema elsewhere, or the registry lost it). The fix: register it here.
    const row = {
      driver_id: 4242,
      event_timestamp: Date.now() * 1000,
      conv_rate: 0.424242,
      acc_rate: 0.5,
      avg_daily_trips: 42,
      source_app: 'app',
    };
    const { topic, schemas, producerSchema, unknownId, record } = await unknownSchemaPoison(demo.repoDir, row);
    cleanup.push(() => schemas.close());
    const log = new RemoteEventLog(demo.dev);
    cleanup.push(() => log.close());
    const [poison] = await log.append(topic, [record]);

    let page: DeadLetterPage | undefined;
    await waitFor(
      async () => {
        page = (await http.request<DeadLetterPage>('GET', `${jobsUrl}/dlq?view=${DEMO_VIEW}&reason=SCHEMA_NOT_FOUND`))
          .body;
        return page.total === 2;
      },
      { timeoutMs: 60_000, description: 'the materializer and the compactor each dead-letter the record' },
    );
    const entry = page!.items[0]!;
    assert.deepEqual(entry.source, { topic, partition: poison!.partition, offset: poison!.offset });

    const listed = json<DeadLetterPage>(await runCli(['--json', 'dlq', 'ls', '--view', DEMO_VIEW], demo.repoDir));
    assert.deepEqual(
      listed.items.map((item) => item.id),
      page!.items.map((item) => item.id),
    );
    const shown = await runCli(['dlq', 'show', entry.id], demo.repoDir);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /featurelog\.error\.code: SCHEMA_NOT_FOUND/);
    assert.match(shown.stdout, new RegExp(`schema id ${unknownId}, not decodable`));
    assert.match(shown.stdout, /would fail again: SCHEMA_NOT_FOUND/);

    const refused = json<RedriveResult>(await runCli(['--json', 'dlq', 'redrive', '--view', DEMO_VIEW], demo.repoDir));
    // One entry per consumer that refused it, each checked and counted.
    assert.deepEqual([refused.matched, refused.reappended, refused.failsAgain], [2, 0, 2]);
    const endBefore = (await log.endOffsets(topic)).get(poison!.partition)!;

    assert.equal(await schemas.register(valueSubject(topic), producerSchema), unknownId, 'the schema is back');
    const redriven = await http.request<RedriveResult>('POST', `${jobsUrl}/dlq/redrive`, { positions: [entry.id] });
    assert.equal(redriven.status, 201, JSON.stringify(redriven.body));
    // Redriving one entry redrives the record: both consumers' entries, with one re-append between them.
    assert.deepEqual([redriven.body.matched, redriven.body.reappended, redriven.body.failsAgain], [2, 2, 0]);
    for (const redrivenEntry of redriven.body.entries) {
      assert.deepEqual(redrivenEntry.to, { topic, partition: poison!.partition, offset: endBefore });
    }
    assert.equal((await log.endOffsets(topic)).get(poison!.partition), endBefore + 1, 'the record is appended once');

    // The materializer now takes the re-appended record: the driver is served its values.
    await waitFor(
      async () => {
        const response = await http.request('POST', `${demo.dev.urls.serving}/get-online-features`, {
          features: [`${DEMO_VIEW}:conv_rate`],
          entities: { driver_id: [4242] },
        });
        return JSON.stringify(response.body).includes('0.424242');
      },
      { timeoutMs: 60_000, description: 'the redriven row is served' },
    );
    const again = json<RedriveResult>(await runCli(['--json', 'dlq', 'redrive', entry.id], demo.repoDir));
    assert.deepEqual([again.reappended, again.alreadyRedriven], [0, 2]);
    const after = json<DeadLetterPage>(await runCli(['--json', 'dlq', 'ls'], demo.repoDir));
    assert.deepEqual(
      after.items.map((item) => [item.id, item.status]),
      page!.items.map((item) => [item.id, 'redriven']),
      'redriven, and not dead-lettered again',
    );
  });
});
