import { Loading, Problem, Table, time } from '../components';
import { useAction, useApi } from '../hooks';

interface Job {
  jobId: string;
  spec: { type?: string; kind?: string; [key: string]: unknown };
  status: string;
  requestedAt: number;
  requestedBy?: string;
  progress?: { phase: string; done: number; total: number; at: number };
  error?: { code: string; message: string };
  cancel?: { requestedAt: number; requestedBy?: string; reason?: string };
  endedAt?: number;
}

const ENDED = new Set(['finished', 'failed', 'cancelled']);
/** Progress is an event on the jobs topic; reading the list this often shows it move. */
const POLL_MS = 1_000;

/** `#/jobs`: exports and backfills of the jobs topic, with live progress and cancel. */
export function JobsPage() {
  const jobs = useApi<Job[]>('jobs', '/jobs', { pollMs: POLL_MS });
  const list = [...(jobs.data ?? [])].sort((a, b) => b.requestedAt - a.requestedAt);
  return (
    <div>
      <h1>Jobs</h1>
      <p class="muted">
        Exports and backfills are requested with <code>featurelog export</code> and <code>featurelog backfill</code>;
        this page follows them on the jobs topic.
      </p>
      {jobs.error && <Problem error={jobs.error} what="reading the jobs" />}
      {jobs.loading && !jobs.data && <Loading what="jobs" />}
      {jobs.data && list.length === 0 && <p>No job yet.</p>}
      {list.length > 0 && (
        <Table caption="Jobs">
          <thead>
            <tr>
              <th scope="col">Job</th>
              <th scope="col">Kind</th>
              <th scope="col">Status</th>
              <th scope="col">Progress</th>
              <th scope="col">Requested</th>
              <th scope="col">Action</th>
            </tr>
          </thead>
          <tbody>
            {list.map((job) => (
              <JobRow key={job.jobId} job={job} onChange={jobs.reload} />
            ))}
          </tbody>
        </Table>
      )}
    </div>
  );
}

function JobRow({ job, onChange }: { job: Job; onChange(): void }) {
  const cancel = useAction<Job>();
  const progress = job.progress;
  const percent = progress && progress.total > 0 ? Math.round((100 * progress.done) / progress.total) : undefined;
  return (
    <tr data-job={job.jobId} data-status={job.status}>
      <th scope="row">
        <code>{job.jobId}</code>
      </th>
      <td>{String(job.spec.type ?? job.spec.kind ?? '')}</td>
      <td class={`status status-${job.status}`}>
        {job.status}
        {job.error && <div class="muted">{`${job.error.code}: ${job.error.message}`}</div>}
        {job.cancel && <div class="muted">cancel asked by {job.cancel.requestedBy ?? 'someone'}</div>}
      </td>
      <td>
        {progress ? (
          <label>
            {progress.phase} {progress.done}/{progress.total}
            <progress max={progress.total || 1} value={progress.done}>
              {percent}%
            </progress>
          </label>
        ) : (
          <span class="muted">–</span>
        )}
      </td>
      <td>
        {time(job.requestedAt)}
        {job.requestedBy && <div class="muted">by {job.requestedBy}</div>}
      </td>
      <td>
        {!ENDED.has(job.status) && job.status !== 'cancelling' && (
          <button
            type="button"
            disabled={cancel.running}
            aria-label={`Cancel job ${job.jobId}`}
            onClick={async () => {
              await cancel.run('jobs', `/jobs/${encodeURIComponent(job.jobId)}/cancel`, {
                method: 'POST',
                body: { reason: 'cancelled from the web UI' },
              });
              onChange();
            }}
          >
            Cancel
          </button>
        )}
        {cancel.error && <Problem error={cancel.error} what="cancelling" />}
      </td>
    </tr>
  );
}
