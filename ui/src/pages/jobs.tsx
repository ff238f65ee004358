import { useState } from 'preact/hooks';
import { Loading, Problem, Section, Table, TextField, time } from '../components';
import { FeatureChoice, useFeatureChoice } from '../feature-choice';
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
        Exports and backfills are requested with <code>featurelog export</code> and <code>featurelog backfill</code>, or
        an export with the form below; this page follows them on the jobs topic.
      </p>
      <ExportForm onSubmitted={jobs.reload} />
      {jobs.error && <Problem error={jobs.error} what="reading the jobs" />}
      {jobs.loading && !jobs.data && <Loading what="jobs" />}
      {jobs.data && list.length === 0 && <p>No job yet.</p>}
      {list.length > 0 && (
        <Table caption="Jobs" columns={['Job', 'Kind', 'Status', 'Progress', 'Requested', 'Action']}>
          {list.map((job) => (
            <JobRow key={job.jobId} job={job} onChange={jobs.reload} />
          ))}
        </Table>
      )}
    </div>
  );
}

/**
 * An export as `featurelog export` requests it, through the jobs app's POST /jobs/exports: the paths
 * are on the jobs server (a relative one from its working directory, the repo under `featurelog dev`).
 */
function ExportForm({ onSubmitted }: { onSubmitted(): void }) {
  const choice = useFeatureChoice();
  const [entities, setEntities] = useState('');
  const [output, setOutput] = useState('');
  const submit = useAction<{ jobId: string }>();
  return (
    <Section title="Run an export" id="run-export">
      <form
        class="lookup"
        onSubmit={async (event) => {
          event.preventDefault();
          const submitted = await submit.run('jobs', '/jobs/exports', {
            method: 'POST',
            body: {
              entities,
              ...(choice.mode === 'service' ? { service: choice.service } : { features: choice.featureList }),
              output,
            },
          });
          if (submitted) onSubmitted();
        }}
      >
        <TextField
          label="Entity file on the jobs server (Parquet or CSV with the join keys and event_timestamp)"
          required
          value={entities}
          placeholder="entities.csv"
          onInput={setEntities}
        />
        <FeatureChoice
          choice={choice}
          legend="Features to join"
          name="export"
          featuresLabel="Features (view:feature or view:*, separated by commas)"
        />
        <TextField
          label="Output Parquet file on the jobs server"
          required
          value={output}
          placeholder="training.parquet"
          onInput={setOutput}
        />
        <button type="submit" disabled={submit.running}>
          Start the export
        </button>
      </form>
      {submit.error && <Problem error={submit.error} what="starting the export" />}
      {submit.result && (
        <p role="status" data-testid="export-submitted">
          Export requested: job <code>{submit.result.jobId}</code>, followed below.
        </p>
      )}
    </Section>
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
