import { APP_NAMES, appUrl, type AppName } from '../api';
import { Problem, Section, seconds, Table, time } from '../components';
import { liveOf, useFreshness } from '../freshness';
import { href, useApi } from '../hooks';

/** `#/`: every app's health (public, no key needed) and every view's freshness. */
export function StatusPage() {
  return (
    <div>
      <h1>Overview</h1>
      <Section title="Apps">
        <Table caption="Apps" columns={['App', 'URL', 'Health']}>
          {APP_NAMES.map((app) => (
            <AppRow key={app} app={app} />
          ))}
        </Table>
      </Section>
      <FreshnessTable />
    </div>
  );
}

function AppRow({ app }: { app: AppName }) {
  const health = useApi<{ status: string }>(app, '/health', { pollMs: 5_000 });
  // /health answers 503 with its checks when the app runs but is not ok: that is "down" too.
  const status = health.data?.status ?? (health.error ? 'down' : '…');
  return (
    <tr data-app={app}>
      <th scope="row">{app}</th>
      <td>{appUrl(app) ?? 'not deployed'}</td>
      <td class={status === 'ok' ? 'ok' : status === '…' ? '' : 'bad'} data-testid={`health-${app}`}>
        {status === 'ok' ? 'ok' : status === 'down' ? `down: ${health.error?.message ?? ''}` : status}
      </td>
    </tr>
  );
}

export function FreshnessTable() {
  const { views, error } = useFreshness();
  return (
    <Section title="Freshness and lag per view" id="freshness-all">
      {error && <Problem error={error} what="reading the materializer's metrics" />}
      <Table
        caption="Freshness per view"
        columns={[
          'View',
          'Rows consumed',
          'Rows/s',
          'Event to online delay',
          'Last write seen',
          'Lag (records)',
          'Dead letters',
        ]}
      >
        {views.map((view) => {
          const live = liveOf(view)!;
          return (
            <tr key={view}>
              <th scope="row">
                <a href={href(['feature-views', view])}>{view}</a>
              </th>
              <td>{live.latest.rowsConsumed}</td>
              <td>{live.rowsPerSecond === undefined ? '–' : live.rowsPerSecond.toFixed(1)}</td>
              <td>{live.recentDelaySeconds === undefined ? '–' : seconds(live.recentDelaySeconds)}</td>
              <td>{live.lastWriteSeenAt ? time(live.lastWriteSeenAt) : '–'}</td>
              <td>{live.lagRecords}</td>
              <td>{live.latest.deadLetters}</td>
            </tr>
          );
        })}
      </Table>
      {views.length === 0 && !error && <p class="muted">No view has been materialized yet.</p>}
    </Section>
  );
}
