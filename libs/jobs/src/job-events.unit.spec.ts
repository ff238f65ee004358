import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { evolveJobs, isJobEnded, type JobEvent, type JobSpec, type JobState } from '@featurelog/jobs';

const SPEC: JobSpec = { kind: 'backfill', request: { view: 'driver_stats' } };

function fold(events: JobEvent[]): JobState {
  const jobs = new Map<string, JobState>();
  events.forEach((event, offset) => evolveJobs(jobs, event, offset));
  return jobs.get('j')!;
}

const requested: JobEvent = { type: 'JobRequested', jobId: 'j', spec: SPEC, requestedAt: 1 };
const progress = (done: number): JobEvent => ({
  type: 'JobProgress',
  jobId: 'j',
  worker: 'w',
  phase: 'p',
  done,
  total: 10,
  at: 2 + done,
});
const cancelRequested = (at: number, reason?: string): JobEvent => ({
  type: 'JobCancelRequested',
  jobId: 'j',
  at,
  requestedBy: 'ana',
  ...(reason === undefined ? {} : { reason }),
});
const cancelled: JobEvent = { type: 'JobCancelled', jobId: 'j', worker: 'w', at: 50 };
const finished: JobEvent = { type: 'JobFinished', jobId: 'j', worker: 'w', result: 'ok', at: 40 };

describe('evolveJobs: cancellation', () => {
  it('cancels a job nobody reported on there and then: final, so a later worker never runs it', () => {
    const job = fold([requested, cancelRequested(5, 'not picked up'), progress(1), finished]);
    assert.equal(job.status, 'cancelled');
    assert.ok(isJobEnded(job));
    assert.equal(job.endedAt, 5);
    assert.deepEqual(job.cancel, { requestedAt: 5, requestedBy: 'ana', reason: 'not picked up' });
    assert.equal(job.progress, undefined, 'progress of a worker that raced the cancel is ignored');
    assert.equal(job.result, undefined);
  });

  it("makes a running job cancelling until its worker's JobCancelled", () => {
    const cancelling = fold([requested, progress(3), cancelRequested(20)]);
    assert.equal(cancelling.status, 'cancelling');
    assert.equal(isJobEnded(cancelling), false);
    const moreProgress = fold([requested, progress(3), cancelRequested(20), progress(4)]);
    assert.equal(moreProgress.status, 'cancelling', 'progress does not undo the request');
    assert.equal(moreProgress.progress?.done, 4);
    const done = fold([requested, progress(3), cancelRequested(20), cancelled]);
    assert.equal(done.status, 'cancelled');
    assert.equal(done.endedAt, 50);
  });

  it('keeps the outcome of a job that ended before its worker saw the request', () => {
    assert.equal(fold([requested, progress(3), cancelRequested(20), finished]).status, 'finished');
  });

  it('ignores a cancel of an ended job, and keeps the first request', () => {
    const job = fold([requested, progress(3), finished, cancelRequested(60)]);
    assert.equal(job.status, 'finished');
    assert.equal(job.cancel, undefined);
    const twice = fold([requested, progress(1), cancelRequested(20, 'first'), cancelRequested(30, 'second')]);
    assert.equal(twice.cancel?.reason, 'first');
  });
});
