import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadProjectConfig } from '@featurelog/config';
import { SILENT_LOGGER } from '@featurelog/domain';
import { waitFor } from '@featurelog/testing';
import { startApp, type RunningApp } from '@featurelog/runtime';
import { registryApp } from './registry-app';

/** The registry app on the embedded default: kind segments are user input. */
describe('registry app kind segments', () => {
  let dir: string;
  let app: RunningApp;
  let url: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'featurelog-regroutes-'));
    await writeFile(join(dir, 'featurelog.yaml'), 'project: regroutes\n');
    app = await startApp(registryApp, await loadProjectConfig(dir), { port: 0, logger: SILENT_LOGGER });
    url = app.url;
    await waitFor(async () => (await fetch(`${url}/entities`)).status === 200, {
      description: 'the registry app to serve',
    });
  });

  after(async () => {
    await app?.close();
    await rm(dir, { recursive: true, force: true });
  });

  for (const path of ['/constructor', '/constructor/x', '/__proto__', '/toString/x/history', '/hasOwnProperty']) {
    it(`answers ${path} as an unknown kind (404 UNKNOWN_KIND), not through the object prototype`, async () => {
      const response = await fetch(`${url}${path}`);
      const body = (await response.json()) as { code?: string; message?: string };
      assert.equal(response.status, 404, JSON.stringify(body));
      assert.equal(body.code, 'UNKNOWN_KIND');
      assert.match(body.message ?? '', /expected one of entities, data-sources, feature-views, feature-services/);
      assert.doesNotMatch(body.message ?? '', /function/);
    });
  }
});
