import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonHttpClient } from '@featurelog/runtime';
import { DEMO_VIEW, runCli, startDev } from '../../../../tools/quickstart/demo';
import { initRepoWithKeys } from '../../../../tools/quickstart/demo.test-kit';

/** The project's keys, each from its own variable as featurelog.yaml names them. */
const KEYS = {
  FL_ADMIN_KEY: 'admin-key-0123456789abcdef',
  FL_READ_KEY: 'read-key-0123456789abcdefg',
  FL_PUSH_KEY: 'push-key-0123456789abcdefg',
  FL_JOBS_KEY: 'jobs-key-0123456789abcdefg',
};
const WRONG_KEY = 'wrong-key-0123456789abcdef';
const ALL_KEYS = [...Object.values(KEYS), WRONG_KEY];

const cleanup: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
});

/** Runs with exactly these of the key variables set (and the CLI's own key variables as given). */
async function withEnv<T>(env: Record<string, string | undefined>, work: () => Promise<T>): Promise<T> {
  const names = [...Object.keys(KEYS), 'FEATURELOG_API_KEY', 'FEATURELOG_API_KEY_FILE'];
  const saved = Object.fromEntries(names.map((name) => [name, process.env[name]]));
  for (const name of names) delete process.env[name];
  Object.assign(process.env, env);
  try {
    return await work();
  } finally {
    for (const name of names) delete process.env[name];
    for (const [name, value] of Object.entries(saved)) if (value !== undefined) process.env[name] = value;
  }
}

describe('featurelog dev with API keys: every surface, the CLI, and no key in any output', () => {
  it('guards dev, lets the CLI in with a key, fails only what needs an unset key variable, and never prints a key', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'featurelog-devauth-'));
    cleanup.push(() => rm(parent, { recursive: true, force: true }));
    const repo = join(parent, 'repo');
    const outputs: string[] = [];
    const cli = async (args: string[], env: Record<string, string | undefined> = {}) => {
      const result = await withEnv(env, () => runCli(args, repo));
      outputs.push(result.stdout, result.stderr);
      return result;
    };
    await initRepoWithKeys(repo, parent, [
      { name: 'operator', variable: 'FL_ADMIN_KEY', scopes: ['admin'] },
      { name: 'model', variable: 'FL_READ_KEY', scopes: ['read'] },
      { name: 'backend', variable: 'FL_PUSH_KEY', scopes: ['push'] },
      { name: 'trainer', variable: 'FL_JOBS_KEY', scopes: ['jobs'] },
    ]);

    // Unset key variables fail only what checks keys, naming the variable.
    const plan = await cli(['plan']);
    assert.equal(plan.code, 2, `plan runs without the key variables: ${plan.stderr}`);
    const refused = await cli(['dev', '--any-ports'], { FL_READ_KEY: KEYS.FL_READ_KEY });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /API key "operator" cannot be checked: environment variable FL_ADMIN_KEY is not set/);

    const dev = await withEnv(KEYS, () => startDev(repo));
    cleanup.push(() => dev.stop());
    const { urls } = dev.record;

    // The CLI through dev's log bridge: no key, a wrong key, a key without admin, then the admin key.
    const noKey = await cli(['apply']);
    assert.equal(noKey.code, 1);
    assert.match(noKey.stderr, /UNAUTHENTICATED.*an API key is required.*admin scope.*FEATURELOG_API_KEY/s);
    const wrong = await cli(['apply'], { FEATURELOG_API_KEY: WRONG_KEY });
    assert.match(wrong.stderr, /UNAUTHENTICATED.*the API key is not valid/s);
    const notAdmin = await cli(['apply'], { FEATURELOG_API_KEY: KEYS.FL_READ_KEY });
    assert.match(notAdmin.stderr, /FORBIDDEN.*"model" does not have the "admin" scope/s);
    const applied = await cli(['apply'], { FEATURELOG_API_KEY: KEYS.FL_ADMIN_KEY });
    assert.equal(applied.code, 0, applied.stderr);
    const keyFile = join(parent, 'admin.key');
    await writeFile(keyFile, `${KEYS.FL_ADMIN_KEY}\n`, { mode: 0o600 });
    const ingested = await cli(['--api-key-file', keyFile, 'ingest', DEMO_VIEW, 'data/driver_stats.parquet']);
    assert.equal(ingested.code, 0, ingested.stderr);
    const flag = await cli(['--api-key', KEYS.FL_ADMIN_KEY, 'ls', 'feature-views']);
    assert.equal(flag.code, 0, flag.stderr);
    assert.match(flag.stderr, /--api-key puts the key in your shell history/);

    // get-online reads the registry and serving: `read`.
    const online = ['get-online', '--features', `${DEMO_VIEW}:conv_rate`, '--entity', 'driver_id=1001'];
    assert.match((await cli(online, { FEATURELOG_API_KEY: KEYS.FL_ADMIN_KEY })).stderr, /"read" scope/);
    const read = await cli(online, { FEATURELOG_API_KEY_FILE: undefined, FEATURELOG_API_KEY: KEYS.FL_READ_KEY });
    assert.equal(read.code, 0, read.stderr);

    // Each surface over HTTP, as curl would: none, wrong, without the scope, with it.
    const http = (key?: string) => new JsonHttpClient(key === undefined ? {} : { apiKey: key });
    const status = async (key: string | undefined, method: 'GET' | 'POST', url: string, body?: unknown) => {
      const response = await fetch(url, {
        method,
        headers: {
          ...(key === undefined ? {} : { authorization: `Bearer ${key}` }),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      outputs.push(await response.text());
      return response.status;
    };
    const push = { view: DEMO_VIEW, rows: [{ driver_id: 1001, event_timestamp: new Date().toISOString() }] };
    const append = { records: [{ key: null, value: Buffer.from([0, 0, 0, 0, 1]).toString('base64') }] };
    const surfaces: Array<[string, 'GET' | 'POST', string, unknown, string]> = [
      ['serving /push', 'POST', `${urls.serving}/push`, push, KEYS.FL_PUSH_KEY],
      ['serving /get-online-features', 'POST', `${urls.serving}/get-online-features`, undefined, KEYS.FL_READ_KEY],
      ['registry /entities', 'GET', `${urls.registry}/entities`, undefined, KEYS.FL_READ_KEY],
      ['jobs /jobs', 'GET', `${urls.jobs}/jobs`, undefined, KEYS.FL_JOBS_KEY],
      [
        'dev /log end offsets',
        'GET',
        `${urls.dev}/log/topics/drivers.registry/end-offsets`,
        undefined,
        KEYS.FL_ADMIN_KEY,
      ],
      ['dev /log append', 'POST', `${urls.dev}/log/topics/drivers.registry/append`, append, undefined as never],
      ['materializer /metrics', 'GET', `${urls.materializer}/metrics`, undefined, KEYS.FL_READ_KEY],
    ];
    for (const [name, method, url, body, key] of surfaces) {
      assert.equal(await status(undefined, method, url, body), 401, `${name} without a key`);
      assert.equal(await status(WRONG_KEY, method, url, body), 401, `${name} with a wrong key`);
      const lacking = key === KEYS.FL_JOBS_KEY ? KEYS.FL_READ_KEY : KEYS.FL_JOBS_KEY;
      assert.equal(await status(lacking, method, url, body), 403, `${name} with a key without the scope`);
      if (key !== undefined) {
        assert.ok(![401, 403].includes(await status(key, method, url, body)), `${name} with the scope`);
      }
    }
    const health = http();
    try {
      assert.deepEqual((await health.request('GET', `${urls.dev}/health`)).body, { status: 'ok' });
    } finally {
      health.close();
    }
    const detailed = http(KEYS.FL_READ_KEY);
    try {
      const body = (
        await detailed.request<{ apps: Array<{ app: string; status: string }> }>('GET', `${urls.dev}/health`)
      ).body;
      assert.deepEqual(
        body.apps.map((app) => [app.app, app.status]),
        ['ui', 'registry', 'materializer', 'compactor', 'jobs', 'serving'].map((app) => [app, 'ok']),
      );
    } finally {
      detailed.close();
    }

    assert.equal(await dev.stop(), 0);
    outputs.push(dev.output());
    const everything = outputs.join('\n');
    for (const key of ALL_KEYS)
      assert.ok(!everything.includes(key), `a key appears in the output: ${key.slice(0, 6)}…`);
  });
});
