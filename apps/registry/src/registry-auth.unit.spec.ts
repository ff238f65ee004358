import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadProjectConfig } from '@featurelog/config';
import { SILENT_LOGGER, type TaggedDefinition } from '@featurelog/domain';
import { waitFor } from '@featurelog/testing';
import { startApp, type RunningApp } from '@featurelog/runtime';
import { registryApp } from './registry-app';

const APPLY_KEY = 'apply-key-0123456789';
const READ_KEY = 'read-key-0123456789a';

const definitions: TaggedDefinition[] = [
  { kind: 'entity', definition: { name: 'driver', joinKeys: [{ name: 'driver_id', type: 'int64' }] } },
];

/** The registry app on the embedded default, with the API keys of featurelog.yaml. */
describe('registry app API keys', () => {
  let dir: string;
  let app: RunningApp;
  let url: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'featurelog-regauth-'));
    await writeFile(
      join(dir, 'featurelog.yaml'),
      [
        'project: regauth',
        'serving:',
        '  apiKeys:',
        `    - { name: ci, key: "${APPLY_KEY}", scopes: [apply, read] }`,
        `    - { name: model, key: "${READ_KEY}", scopes: [read] }`,
        '',
      ].join('\n'),
    );
    app = await startApp(registryApp, await loadProjectConfig(dir), { port: 0, logger: SILENT_LOGGER });
    url = app.url;
    await waitFor(async () => (await call('/entities', READ_KEY)).status === 200, {
      description: 'the registry app to serve',
    });
  });

  after(async () => {
    await app?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const call = async (path: string, key?: string, body?: unknown) => {
    const response = await fetch(`${url}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: {
        ...(key ? { authorization: `Bearer ${key}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  it('refuses reads without a valid key (401) and serves them with the read scope', async () => {
    const anonymous = await call('/entities');
    assert.equal(anonymous.status, 401);
    assert.match(String(anonymous.body.message), /API key is required/);
    assert.equal((await call('/entities', 'not-a-key-at-all-x')).status, 401);
    assert.equal((await call('/entities', READ_KEY)).status, 200);
  });

  it('needs the apply scope to plan or apply (403 names the key and scope), and records the key as author', async () => {
    const planned = await call('/plan', READ_KEY, { definitions });
    assert.equal(planned.status, 403);
    assert.match(String(planned.body.message), /"model" does not have the "apply" scope/);
    const refused = await call('/apply', READ_KEY, { definitions });
    assert.equal(refused.status, 403);
    assert.equal((await call('/apply', undefined, { definitions })).status, 401);
    assert.equal((await call('/entities', READ_KEY)).body.items instanceof Array, true);
    assert.deepEqual((await call('/entities', READ_KEY)).body.items, [], 'nothing was applied by refused calls');

    const applied = await call('/apply', APPLY_KEY, { definitions, author: 'someone-else' });
    assert.equal(applied.status, 201, JSON.stringify(applied.body));
    const history = await call('/entities/driver/history', READ_KEY);
    assert.equal(history.status, 200);
    const [version] = history.body.versions as Array<{ author?: string }>;
    assert.equal(version?.author, 'api-key:ci', 'the author is the key, not what the body claims');
  });

  it('answers /health to anyone with its status alone, its checks and /metrics only to a read key', async () => {
    const anonymous = await fetch(`${url}/health`);
    assert.equal(anonymous.status, 200);
    assert.deepEqual(await anonymous.json(), { status: 'ok' });
    const detailed = (await call('/health', READ_KEY)).body;
    assert.deepEqual(Object.keys(detailed.checks as object).sort(), ['log', 'registry']);
    assert.equal((await call('/health', 'not-a-key-at-all-x')).status, 401, 'a wrong key is not taken for none');
    assert.equal((await fetch(`${url}/metrics`)).status, 401);
    assert.equal((await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${APPLY_KEY}` } })).status, 200);
  });
});
