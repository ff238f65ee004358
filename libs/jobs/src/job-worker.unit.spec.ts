import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FeaturelogError, topicNames } from '@featurelog/domain';
import { FileEventLog } from '@featurelog/log';
import { uniqueName, waitFor } from '@featurelog/testing';
import {
  encodeJobEvent,
  followJob,
  JobWorker,
  readJob,
  readJobs,
  requestJobCancel,
  submitJob,
  throwIfCancelled,
  watchJob,
  type JobEvent,
  type JobExecutor,
  type JobSpec,
} from '@featurelog/jobs';

const SPEC: JobSpec = { kind: 'backfill', request: { view: 'driver_stats' } };

/** Runs `body` while `worker` runs, and stops the worker however `body` ends. */
async function whileRunning(worker: JobWorker, body: () => Promise<void>): Promise<void> {
  await worker.start();
  try {
    await body();
  } finally {
    await worker.stop();
  }
}

describe('JobWorker and the job client over <project>.jobs (embedded log)', () => {
  let dir: string;
  let log: FileEventLog;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'featurelog-jobs-'));
    log = await FileEventLog.open({ directory: join(dir, 'log'), fsync: 'never' });
  });
  after(async () => {
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A worker whose jobs succeed with 'ok', noting each job's kind in `ran`. */
  const recordingWorker = (project: string, ran: string[]) =>
    new JobWorker({
      log,
      project,
      execute: async (spec) => {
        ran.push(spec.kind);
        return 'ok';
      },
    });

  it('runs a submitted job and the client follows its progress to the result', async () => {
    const project = uniqueName('p');
    const execute: JobExecutor = async (spec, onProgress) => {
      for (let done = 0; done <= 3; done++) onProgress({ phase: `step ${done}`, done, total: 3 });
      return { echoed: spec.kind };
    };
    const worker = new JobWorker({ log, project, execute, progressIntervalMs: 0 });
    await whileRunning(worker, async () => {
      const events: JobEvent[] = [];
      const job = await submitJob(log, project, SPEC);
      const result = await followJob(log, project, job, { onEvent: (event) => events.push(event) });
      assert.deepEqual(result, { echoed: 'backfill' });
      assert.deepEqual(
        events.map((event) => (event.type === 'JobProgress' ? `${event.type}:${event.phase}` : event.type)),
        [
          'JobRequested',
          'JobProgress:started',
          'JobProgress:step 0',
          'JobProgress:step 1',
          'JobProgress:step 2',
          'JobProgress:step 3',
          'JobFinished',
        ],
      );
      await waitFor(() => worker.get(job.jobId)?.status === 'finished', {
        timeoutMs: 5_000,
        description: 'the worker folds its outcome',
      });
      assert.equal(worker.completed, 1);
    });
  });

  it("reports a failed job with the job's own error code and message", async () => {
    const project = uniqueName('p');
    const execute: JobExecutor = async () => {
      throw new FeaturelogError('ENTITY_TIMESTAMP_MISSING', 'entity file x.csv has no "event_timestamp" column');
    };
    const worker = new JobWorker({ log, project, execute });
    await whileRunning(worker, async () => {
      const job = await submitJob(log, project, SPEC);
      await assert.rejects(followJob(log, project, job), (error: unknown) => {
        assert.ok(error instanceof FeaturelogError);
        assert.equal(error.code, 'ENTITY_TIMESTAMP_MISSING');
        assert.match(error.message, /x\.csv/);
        return true;
      });
    });
  });

  it('on start, runs jobs requested but never finished, and not those already finished', async () => {
    const project = uniqueName('p');
    const topic = topicNames.jobs(project);
    const pending = await submitJob(log, project, SPEC, { jobId: 'pending' });
    await submitJob(log, project, SPEC, { jobId: 'done' });
    const finished: JobEvent = { type: 'JobFinished', jobId: 'done', worker: 'old', result: null, at: 1 };
    await log.append(topic, [{ key: Buffer.from('done'), value: encodeJobEvent(finished) }]);
    const ran: string[] = [];
    const worker = recordingWorker(project, ran);
    await whileRunning(worker, async () => {
      assert.equal(await followJob(log, project, pending), 'ok');
      assert.deepEqual(ran, ['backfill']);
      // The submitter may see JobFinished before the worker has folded it into its own list.
      await waitFor(() => worker.list().find((job) => job.jobId === 'pending')?.status === 'finished', {
        timeoutMs: 10_000,
        description: 'the worker lists the pending job as finished',
      });
      assert.deepEqual(
        worker.list().map((job) => [job.jobId, job.status]),
        [
          ['pending', 'finished'],
          ['done', 'finished'],
        ],
      );
    });
  });

  it('tells the submitter when no worker picks the job up, and cancels it so that no worker runs it later', async () => {
    const project = uniqueName('p');
    const job = await submitJob(log, project, SPEC);
    await assert.rejects(
      followJob(log, project, job, { pickupTimeoutMs: 300 }),
      (error: unknown) =>
        error instanceof FeaturelogError && error.code === 'JOB_NOT_PICKED_UP' && /cancelled/.test(error.message),
    );
    assert.equal((await readJob(log, project, job.jobId)).status, 'cancelled');
    const ran: string[] = [];
    const worker = recordingWorker(project, ran);
    await whileRunning(worker, async () => {
      // A later job runs, so the worker has folded past the cancelled one by then.
      const later = await submitJob(log, project, SPEC);
      assert.equal(await followJob(log, project, later), 'ok');
      assert.deepEqual(ran, ['backfill'], 'only the later job ran');
      assert.equal(worker.get(job.jobId)?.status, 'cancelled');
    });
  });

  it('stops a running job on a cancel request, reports it cancelled, and refuses to cancel it again', async () => {
    const project = uniqueName('p');
    let stages = 0;
    let cleanedUp = false;
    const execute: JobExecutor = async (_spec, onProgress, signal) => {
      try {
        for (;;) {
          throwIfCancelled(signal);
          onProgress({ phase: 'stage', done: ++stages, total: 1_000_000 });
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      } finally {
        cleanedUp = true;
      }
    };
    const worker = new JobWorker({ log, project, execute, progressIntervalMs: 0 });
    await whileRunning(worker, async () => {
      const job = await submitJob(log, project, SPEC);
      const outcome = followJob(log, project, job);
      outcome.catch(() => undefined);
      await waitFor(async () => (await readJob(log, project, job.jobId)).status === 'running', {
        timeoutMs: 5_000,
        description: 'the job runs',
      });
      const state = await requestJobCancel(log, project, job.jobId, { requestedBy: 'ana', reason: 'wrong dates' });
      assert.ok(['cancelling', 'cancelled'].includes(state.status), state.status);
      await assert.rejects(outcome, (error: unknown) => {
        assert.ok(error instanceof FeaturelogError);
        assert.equal(error.code, 'JOB_CANCELLED');
        assert.match(error.message, /by ana \(wrong dates\)/);
        return true;
      });
      assert.ok(cleanedUp, 'the executor ran its clean-up');
      const ended = await readJob(log, project, job.jobId);
      assert.equal(ended.status, 'cancelled');
      const stagesAtCancel = stages;
      await assert.rejects(requestJobCancel(log, project, job.jobId), (error: unknown) => {
        assert.ok(error instanceof FeaturelogError);
        assert.equal(error.code, 'JOB_NOT_CANCELLABLE');
        assert.match(error.message, /it is cancelled/);
        return true;
      });
      assert.equal(stages, stagesAtCancel, 'nothing ran after the cancel');
      assert.equal(worker.cancelled, 1);
      await assert.rejects(requestJobCancel(log, project, 'no-such-job'), { code: 'JOB_NOT_FOUND' });
    });
  });

  it("on start, reports a job cancelled while a worker that is gone ran it, and doesn't run it", async () => {
    const project = uniqueName('p');
    const topic = topicNames.jobs(project);
    const job = await submitJob(log, project, SPEC, { jobId: 'orphan' });
    const started: JobEvent = {
      type: 'JobProgress',
      jobId: 'orphan',
      worker: 'dead',
      phase: 'started',
      done: 0,
      total: 1,
      at: 1,
    };
    await log.append(topic, [{ key: Buffer.from('orphan'), value: encodeJobEvent(started) }]);
    assert.equal((await requestJobCancel(log, project, 'orphan')).status, 'cancelling');
    let ran = false;
    const worker = new JobWorker({
      log,
      project,
      execute: async () => {
        ran = true;
        return 'ok';
      },
    });
    await whileRunning(worker, async () => {
      const ended = await watchJob(log, project, job.jobId, { timeoutMs: 10_000 });
      assert.equal(ended.status, 'cancelled');
      assert.equal(ran, false);
    });
  });

  it('publishes the progress held back by the interval before the outcome, so progress ends at its total', async () => {
    const project = uniqueName('p');
    const execute: JobExecutor = async (_spec, onProgress) => {
      for (let done = 0; done <= 10; done++) onProgress({ phase: 'writing', done, total: 10 });
      return 'ok';
    };
    const worker = new JobWorker({ log, project, execute, progressIntervalMs: 60_000 });
    await whileRunning(worker, async () => {
      const job = await submitJob(log, project, SPEC);
      const seen: string[] = [];
      await followJob(log, project, job, {
        onEvent: (event) => event.type === 'JobProgress' && seen.push(`${event.phase} ${event.done}/${event.total}`),
      });
      assert.deepEqual(seen, ['started 0/1', 'writing 0/10', 'writing 10/10']);
      const state = (await readJobs(log, project)).get(job.jobId)!;
      assert.equal(state.status, 'finished');
      assert.deepEqual([state.progress?.done, state.progress?.total], [10, 10]);
    });
  });
});
