import { useState } from 'preact/hooks';
import { Loading, Problem, Section, stableJsonText, Table, time } from '../components';
import { href, useAction, useApi, type Route } from '../hooks';

interface DeadLetter {
  id: string;
  deadLetteredAt: number;
  error: { code: string; reason: string };
  source: { topic: string; partition: number; offset: number };
  view?: string;
  key: string | null;
  valueBytes: number | null;
  headers: Record<string, string>;
  redrivenBefore: number;
  status: 'dead' | 'redriving' | 'redriven';
  redrive?: { redriveId: string; at: number; by?: string; to?: { topic: string; partition: number; offset: number } };
}
interface DeadLetterDetail extends DeadLetter {
  body: { schemaId?: number; writerSchema?: string; row?: Record<string, unknown>; undecodable?: string } | null;
  redriveCheck: { ok: true } | { ok: false; code: string; message: string };
}
interface RedriveResult {
  matched: number;
  reappended: number;
  failsAgain: number;
  alreadyRedriven: number;
  entries: Array<{ id: string; outcome: string; error?: { code: string; message: string } }>;
}

const PAGE = 50;

/** `#/dlq`: the dead letters, as `featurelog dlq ls / show / redrive` give them. */
export function DlqPage({ route }: { route: Route }) {
  const view = route.query.get('view') ?? '';
  const status = route.query.get('status') ?? '';
  const skip = Number(route.query.get('skip') ?? '0') || 0;
  const selected = route.query.get('entry') ?? undefined;
  const params = new URLSearchParams({ skip: String(skip), limit: String(PAGE) });
  if (view) params.set('view', view);
  if (status) params.set('status', status);
  const page = useApi<{ total: number; items: DeadLetter[]; next?: number }>('jobs', `/dlq?${params}`, {
    pollMs: 5_000,
  });
  const go = (next: Record<string, string | undefined>) => (location.hash = href(['dlq'], { view, status, ...next }));
  return (
    <div>
      <h1>Dead letters</h1>
      <form class="filters" onSubmit={(event) => event.preventDefault()}>
        <label>
          View
          <input type="search" value={view} onChange={(e) => go({ view: e.currentTarget.value })} />
        </label>
        {/* Labelled by id, not by wrapping: a wrapped select's name would include its value. */}
        <div class="field">
          <label for="dlq-status">Status</label>
          <select id="dlq-status" value={status} onChange={(e) => go({ status: e.currentTarget.value })}>
            <option value="">any</option>
            <option value="dead">dead</option>
            <option value="redriving">redriving</option>
            <option value="redriven">redriven</option>
          </select>
        </div>
      </form>
      {page.error && <Problem error={page.error} what="reading the dead letters" />}
      {page.loading && !page.data && <Loading what="dead letters" />}
      {page.data && (
        <>
          <p class="muted" role="status">
            {page.data.total} dead letter{page.data.total === 1 ? '' : 's'}
          </p>
          <Table caption="Dead letters" columns={['Entry', 'When', 'View', 'Error', 'Status']}>
            {page.data.items.map((item) => (
              <tr key={item.id} data-entry={item.id} data-status={item.status}>
                <th scope="row">
                  <a href={href(['dlq'], { view, status, entry: item.id })}>{item.id}</a>
                </th>
                <td>{time(item.deadLetteredAt)}</td>
                <td>{item.view ?? <span class="muted">none</span>}</td>
                <td>
                  <code>{item.error.code}</code> {item.error.reason}
                </td>
                <td class={`status status-${item.status}`}>{item.status}</td>
              </tr>
            ))}
          </Table>
          <div class="pager">
            {skip > 0 && (
              <a href={href(['dlq'], { view, status, skip: String(Math.max(0, skip - PAGE)) })}>Previous page</a>
            )}
            {page.data.next !== undefined && (
              <a href={href(['dlq'], { view, status, skip: String(page.data.next) })}>Next page</a>
            )}
          </div>
        </>
      )}
      {selected && <DeadLetterEntry id={selected} onRedriven={page.reload} />}
    </div>
  );
}

function DeadLetterEntry({ id, onRedriven }: { id: string; onRedriven(): void }) {
  const detail = useApi<DeadLetterDetail>('jobs', `/dlq/${id.split('/').map(encodeURIComponent).join('/')}`);
  const redrive = useAction<RedriveResult>();
  const [dryRun, setDryRun] = useState(false);
  const entry = detail.data;
  return (
    <Section title={`Entry ${id}`} id="dlq-entry">
      {detail.error && <Problem error={detail.error} what="reading the entry" />}
      {entry && (
        <>
          <dl class="facts">
            <dt>Error</dt>
            <dd>
              <code>{entry.error.code}</code> {entry.error.reason}
            </dd>
            <dt>Source record</dt>
            <dd>
              <code>
                {entry.source.topic}/{entry.source.partition}/{entry.source.offset}
              </code>
            </dd>
            <dt>Key</dt>
            <dd>
              <code>{entry.key ?? 'null'}</code>
            </dd>
            <dt>Status</dt>
            <dd data-testid="entry-status">{entry.status}</dd>
            <dt>Redriven before</dt>
            <dd>{entry.redrivenBefore} times</dd>
            <dt>A redrive now</dt>
            <dd data-testid="redrive-check">
              {entry.redriveCheck.ok
                ? 'would be taken by the consumers'
                : `would fail again: ${entry.redriveCheck.code}: ${entry.redriveCheck.message}`}
            </dd>
          </dl>
          <h3>Body</h3>
          <pre class="code" tabIndex={0}>
            {entry.body === null ? 'no value (a tombstone)' : stableJsonText(entry.body)}
          </pre>
          <h3>Headers</h3>
          <pre class="code" tabIndex={0}>
            {stableJsonText(entry.headers)}
          </pre>
          <div class="actions">
            <label class="inline">
              <input type="checkbox" checked={dryRun} onChange={(e) => setDryRun(e.currentTarget.checked)} /> Dry run
              (change nothing)
            </label>
            <button
              type="button"
              disabled={redrive.running}
              onClick={async () => {
                await redrive.run('jobs', '/dlq/redrive', { method: 'POST', body: { positions: [id], dryRun } });
                detail.reload();
                onRedriven();
              }}
            >
              Redrive {id}
            </button>
          </div>
          {redrive.error && <Problem error={redrive.error} what="the redrive" />}
          {redrive.result && (
            <p role="status" data-testid="redrive-result">
              {redrive.result.matched} matched, {redrive.result.reappended} re-appended, {redrive.result.failsAgain}{' '}
              would fail again, {redrive.result.alreadyRedriven} already redriven.
            </p>
          )}
        </>
      )}
    </Section>
  );
}
