import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { parseProjectConfig, type ProjectConfig } from '@featurelog/config';
import { SILENT_LOGGER } from '@featurelog/domain';
import { ProjectRuntime, startApp, type RunningApp } from '@featurelog/runtime';
import { servingTestDefinitions } from '@featurelog/serving/testing';
import { stackProjectYaml, uniqueName, waitFor } from '@featurelog/testing';
import { servingApp } from './serving-app';

const READ_KEY = 'reader-key-0123456789abcdef';
const PUSH_KEY = 'pusher-key-0123456789abcdef';

/** featurelog.yaml over the stack, with one key from the environment and one as a digest. */
function stackConfig(project: string): ProjectConfig {
  const text = stackProjectYaml(project, {
    more: [
      'serving:',
      '  maxEntityRows: 3',
      '  apiKeys:',
      '    - { name: model, key: "${SERVING_TEST_READ_KEY}", scopes: [read] }',
      `    - { name: ingest, sha256: ${createHash('sha256').update(PUSH_KEY).digest('hex')}, scopes: [push] }`,
    ],
  });
  return parseProjectConfig(text, {
    file: 'featurelog.yaml',
    repoDir: '/tmp',
    env: { SERVING_TEST_READ_KEY: READ_KEY },
  });
}

describe('servingApp: the serving app composed from featurelog.yaml (Kafka, schema registry, Redis)', () => {
  let runtime: ProjectRuntime;
  let app: RunningApp;
  let url: string;

  before(async () => {
    const config = stackConfig(uniqueName('srvmain').replace(/-/g, '_'));
    runtime = await ProjectRuntime.open(config);
    for (const spec of runtime.topics.project) await runtime.log.ensureTopic(spec);
    const { applier } = runtime.registry();
    await applier.apply(servingTestDefinitions());
    app = await startApp(servingApp, config, { port: 0, logger: SILENT_LOGGER });
    url = app.url;
  });
  after(async () => {
    await app?.close();
    await runtime?.close();
  });

  const post = async (path: string, body: unknown, key?: string) => {
    const response = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const read = { features: ['driver_stats:trips'], entities: { driver_id: [1] } };

  it('checks the API keys of featurelog.yaml: 401 without a valid key, 403 without the scope', async () => {
    assert.equal((await post('/get-online-features', read)).status, 401);
    assert.equal((await post('/get-online-features', read, 'not-a-key')).status, 401);
    const forbidden = await post('/get-online-features', read, PUSH_KEY);
    assert.equal(forbidden.status, 403);
    assert.match(String(forbidden.body.message), /"ingest" does not have the "read" scope/);
    assert.doesNotMatch(JSON.stringify(forbidden.body), new RegExp(PUSH_KEY));
    const ok = await post('/get-online-features', read, READ_KEY);
    assert.equal(ok.status, 200);
    const tooMany = await post('/get-online-features', { ...read, entities: { driver_id: [1, 2, 3, 4] } }, READ_KEY);
    assert.equal(tooMany.status, 413);
    assert.match(String(tooMany.body.message), /maxEntityRows = 3/);
    assert.equal((await post('/push', { view: 'driver_stats', rows: [] }, READ_KEY)).status, 403);
  });

  it('streams a pushed row to a subscriber: push → log → feed → SSE, no materializer involved', async () => {
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const request = httpRequest(
        `${url}/subscribe?features=driver_stats:trips&entities=${encodeURIComponent('{"driver_id":[42]}')}`,
        { headers: { accept: 'text/event-stream', 'x-api-key': READ_KEY } },
        resolve,
      );
      request.on('error', reject);
      request.end();
    });
    assert.equal(response.statusCode, 200);
    let text = '';
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => (text += chunk));
    try {
      await waitFor(() => text.includes('event: snapshot'), { description: 'the snapshot' });
      const pushed = await post(
        '/push',
        { view: 'driver_stats', rows: [{ driver_id: 42, event_timestamp: Date.now() * 1_000, trips: 7 }] },
        PUSH_KEY,
      );
      assert.equal(pushed.status, 200, JSON.stringify(pushed.body));
      await waitFor(() => text.includes('event: update'), { description: 'the pushed row as an update' });
      const update = /event: update\ndata: (.*)\n/.exec(text)![1]!;
      assert.deepEqual((JSON.parse(update) as { values: unknown }).values, { trips: 7 });
    } finally {
      response.destroy();
    }
  });

  it('answers /health with every dependency up', async () => {
    const response = await fetch(`${url}/health`);
    assert.equal(response.status, 200, await response.text());
  });
});
