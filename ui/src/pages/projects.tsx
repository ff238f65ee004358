import { APP_NAMES, appUrl, project, type AppName } from '../api';
import { Section, Table } from '../components';
import { useApi } from '../hooks';

/**
 * `#/projects`: the project this deployment serves, its apps and their health. featurelog runs one
 * project per deployment (its topics, online store and registry are the project's), so the list has
 * one row; the page says so rather than pretend to switch between projects.
 */
export function ProjectsPage() {
  const deployed = APP_NAMES.filter((app) => appUrl(app) !== undefined);
  return (
    <div>
      <h1>Projects</h1>
      <p data-testid="one-project">
        featurelog runs one project per deployment: this UI and the apps it reads serve the project{' '}
        <strong>{project()}</strong>. Another project is another deployment (its own <code>featurelog.yaml</code>,
        topics and online store) with its own UI.
      </p>
      <Section title="This deployment" id="deployment">
        <Table caption="Projects" columns={['Project', 'Apps and their health']}>
          <tr data-project={project()}>
            <th scope="row">{project()}</th>
            <td>
              <ul class="apps">
                {deployed.map((app) => (
                  <AppHealth key={app} app={app} />
                ))}
              </ul>
              {deployed.length < APP_NAMES.length && (
                <p class="muted">Not deployed: {APP_NAMES.filter((app) => !deployed.includes(app)).join(', ')}</p>
              )}
            </td>
          </tr>
        </Table>
      </Section>
    </div>
  );
}

function AppHealth({ app }: { app: AppName }) {
  const health = useApi<{ status: string }>(app, '/health', { pollMs: 5_000 });
  // /health answers 503 with its checks when the app runs but is not ok: that is "down" too.
  const status = health.data?.status ?? (health.error ? 'down' : '…');
  return (
    <li data-testid={`project-app-${app}`} data-status={status}>
      {app} <span class="muted">{appUrl(app)}</span>:{' '}
      <span class={status === 'ok' ? 'ok' : status === '…' ? '' : 'bad'}>{status}</span>
    </li>
  );
}
