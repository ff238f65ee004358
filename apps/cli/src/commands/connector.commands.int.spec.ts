import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { registryApp } from '@featurelog/app-registry';
import { loadProjectConfig } from '@featurelog/config';
import { SILENT_LOGGER } from '@featurelog/domain';
import { startApp, type RunningApp } from '@featurelog/runtime';
import { stackEnv, uniqueName, waitFor } from '@featurelog/testing';
import { PLAN_BREAKING_EXIT_CODE } from '../exit-codes';
import { explain, TempFeatureRepo } from './registry.test-kit';

const CONNECT = stackEnv().connectUrl;
const SOURCE_CLASS = 'org.apache.kafka.connect.file.FileStreamSourceConnector';
const SINK_CLASS = 'org.apache.kafka.connect.file.FileStreamSinkConnector';
/** The reconciler's variable: set in this process, so the in-process registry app resolves it. */
const SECRET_VARIABLE = 'FL_CONNECTOR_TEST_SECRET';
const SECRET = `s3cret-${uniqueName('x')}`;

async function connect<T>(method: string, path: string): Promise<{ status: number; body: T }> {
  const response = await fetch(`${CONNECT}${path}`, { method });
  const text = await response.text();
  return { status: response.status, body: (text === '' ? undefined : JSON.parse(text)) as T };
}

const connectorState = async (name: string) =>
  (
    await connect<{ connector?: { state: string }; tasks?: Array<{ state: string; trace?: string }> }>(
      'GET',
      `/connectors/${name}/status`,
    )
  ).body;

function connectorYaml(
  name: string,
  { cls, config, state }: { cls: string; config: Record<string, string>; state?: string },
): string {
  return [
    'kind: connector',
    `name: ${name}`,
    `class: ${cls}`,
    ...(state ? [`state: ${state}`] : []),
    'config:',
    ...Object.entries(config).map(([key, value]) => `  ${key}: "${value}"`),
    '',
  ].join('\n');
}

describe('connectors through featurelog apply, against the stack’s Kafka Connect worker', { timeout: 240_000 }, () => {
  let repo: TempFeatureRepo;
  let app: RunningApp;
  const work = join(tmpdir(), uniqueName('fl-connect'));
  const source = uniqueName('src').replace(/-/g, '_');
  const sink = uniqueName('sink').replace(/-/g, '_');
  const sinkDir = join(work, 'missing-dir');
  const sourceConfig = { file: join(work, 'in.txt'), topic: `${source}.lines`, 'x.password': `\${${SECRET_VARIABLE}}` };

  before(async () => {
    process.env[SECRET_VARIABLE] = SECRET;
    await mkdir(work, { recursive: true });
    await writeFile(join(work, 'in.txt'), 'one\ntwo\n');
    repo = await TempFeatureRepo.create('conn');
    const settings = join(repo.dir, 'featurelog.yaml');
    await writeFile(settings, `${await readFile(settings, 'utf8')}connect:\n  url: ${CONNECT}\n`);
    app = await startApp(registryApp, await loadProjectConfig(repo.dir), {
      port: 0,
      logger: SILENT_LOGGER,
      connectorIntervalMs: 300,
    });
  });

  after(async () => {
    await app?.close();
    for (const name of [source, sink]) await connect('DELETE', `/connectors/${name}`).catch(() => undefined);
    await repo?.dispose();
    await rm(work, { recursive: true, force: true });
  });

  it('apply creates the connector, with the secret resolved only in what the worker gets', async () => {
    await repo.write('source.yaml', connectorYaml(source, { cls: SOURCE_CLASS, config: sourceConfig }));
    const applied = await repo.cli('apply');
    assert.equal(applied.code, 0, explain(applied));
    const config = await waitFor(
      async () => {
        const held = (await connect<Record<string, string> | undefined>('GET', `/connectors/${source}/config`)).body;
        return held?.file !== undefined ? held : undefined;
      },
      { description: 'the connector on the worker' },
    );
    assert.equal(config['connector.class'], SOURCE_CLASS);
    assert.equal(config['x.password'], SECRET);
    await waitFor(async () => (await connectorState(source))?.connector?.state === 'RUNNING', {
      description: 'RUNNING',
    });
    // The registry holds the reference, never the secret.
    const described = await repo.cli('describe', 'connector', source);
    assert.match(described.stdout, new RegExp(`x.password: \\$\\{${SECRET_VARIABLE}\\}`), explain(described));
    assert.doesNotMatch(described.stdout, new RegExp(SECRET));
  });

  it('a config change is applied', async () => {
    await repo.write(
      'source.yaml',
      connectorYaml(source, { cls: SOURCE_CLASS, config: { ...sourceConfig, 'batch.size': '123' } }),
    );
    const plan = await repo.cli('plan');
    assert.match(plan.stdout, /config\[batch\.size\]/, explain(plan));
    const applied = await repo.cli('apply');
    assert.equal(applied.code, 0, explain(applied));
    await waitFor(
      async () =>
        (await connect<Record<string, string>>('GET', `/connectors/${source}/config`)).body['batch.size'] === '123',
      { description: 'batch.size on the worker' },
    );
  });

  it('pause and resume', async () => {
    const withState = (state: string) =>
      repo.write(
        'source.yaml',
        connectorYaml(source, { cls: SOURCE_CLASS, state, config: { ...sourceConfig, 'batch.size': '123' } }),
      );
    await withState('paused');
    assert.equal((await repo.cli('apply')).code, 0);
    await waitFor(async () => (await connectorState(source))?.connector?.state === 'PAUSED', { description: 'PAUSED' });
    await withState('running');
    assert.equal((await repo.cli('apply')).code, 0);
    await waitFor(async () => (await connectorState(source))?.connector?.state === 'RUNNING', {
      description: 'RUNNING again',
    });
  });

  it('a config the worker refuses is refused at plan with its messages, and apply applies nothing', async () => {
    const bad = uniqueName('bad').replace(/-/g, '_');
    await repo.write(
      'bad.yaml',
      connectorYaml(bad, { cls: SOURCE_CLASS, config: { file: '/tmp/x', 'tasks.max': 'many' } }),
    );
    const plan = await repo.cli('plan');
    assert.equal(plan.code, PLAN_BREAKING_EXIT_CODE, explain(plan));
    assert.match(plan.stdout, /tasks\.max: Invalid value many for configuration tasks\.max: Not a number of type INT/);
    assert.match(plan.stdout, /topic: Missing required configuration "topic"/);
    const applied = await repo.cli('apply');
    assert.notEqual(applied.code, 0, explain(applied));
    assert.match(applied.stderr, /CONNECTOR_CONFIG_REFUSED/);
    assert.match(applied.stderr, /Not a number of type INT/);
    const history = await repo.cli('history', 'connector', bad);
    assert.match(history.stderr, /OBJECT_NOT_FOUND/, 'nothing was applied');
    assert.equal((await connect('GET', `/connectors/${bad}/config`)).status, 404);
    await repo.remove('bad.yaml');
  });

  it('a failed task shows in ls connectors, /health and the metric; restart restarts it', async () => {
    // The sink cannot open a file in a folder that does not exist: its task fails at start.
    await repo.write(
      'sink.yaml',
      connectorYaml(sink, { cls: SINK_CLASS, config: { file: join(sinkDir, 'out.txt'), topics: `${source}.lines` } }),
    );
    assert.equal((await repo.cli('apply')).code, 0);
    await waitFor(async () => (await connectorState(sink))?.tasks?.[0]?.state === 'FAILED', {
      description: 'a FAILED task',
      timeoutMs: 30_000,
    });
    const listed = await repo.cli('ls', 'connectors');
    assert.match(
      listed.stdout,
      /task 0 FAILED: .*(ConnectException|NoSuchFile|Couldn't find or create file)/,
      explain(listed),
    );
    assert.match(listed.stdout, new RegExp(`${source}[\\s\\S]*RUNNING`));
    const health = await waitFor(
      async () => {
        const report = await app.health();
        return report.checks.connectors?.status === 'unavailable' && report;
      },
      { description: 'the failed task in /health' },
    );
    assert.match(health.checks.connectors!.error!, new RegExp(`connector ${sink} task 0 FAILED`));
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    const failedTasks = metrics
      .split('\n')
      .find(
        (line) =>
          line.startsWith('featurelog_connector_tasks{') &&
          line.includes(`connector="${sink}"`) &&
          line.includes('state="FAILED"'),
      );
    assert.match(failedTasks ?? '', / 1$/, metrics);

    await mkdir(sinkDir, { recursive: true });
    const restarted = await repo.cli('connector', 'restart', sink);
    assert.equal(restarted.code, 0, explain(restarted));
    await waitFor(async () => (await connectorState(sink))?.tasks?.[0]?.state === 'RUNNING', {
      description: 'the task RUNNING after restart',
      timeoutMs: 30_000,
    });
    await waitFor(async () => (await app.health()).checks.connectors?.status === 'ok', {
      description: '/health ok again',
    });
  });

  it('prune deletes the connectors from the worker', async () => {
    await repo.remove('source.yaml');
    await repo.remove('sink.yaml');
    const applied = await repo.cli('apply', '--prune');
    assert.equal(applied.code, 0, explain(applied));
    await waitFor(
      async () =>
        (await connect('GET', `/connectors/${source}`)).status === 404 &&
        (await connect('GET', `/connectors/${sink}`)).status === 404,
      { description: 'both deleted' },
    );
  });

  it('a worker that is down: apply says so and applies nothing', async () => {
    const settings = join(repo.dir, 'featurelog.yaml');
    await writeFile(settings, (await readFile(settings, 'utf8')).replace(CONNECT, 'http://127.0.0.1:9'));
    const lost = uniqueName('down').replace(/-/g, '_');
    await repo.write('down.yaml', connectorYaml(lost, { cls: SOURCE_CLASS, config: { file: '/tmp/x', topic: 't' } }));
    const applied = await repo.cli('apply');
    assert.notEqual(applied.code, 0, explain(applied));
    assert.match(
      applied.stderr,
      /CONNECT_UNAVAILABLE: the Kafka Connect worker at http:\/\/127\.0\.0\.1:9 does not answer/,
    );
    const history = await repo.cli('history', 'connector', lost);
    assert.match(history.stderr, /OBJECT_NOT_FOUND/, 'nothing was applied');
  });
});
