import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { API_KEY_SCOPES, type ApiKeyScope } from '@featurelog/auth';
import { loadProjectConfig, type ProjectConfig } from '@featurelog/config';
import { compactorApp } from '@featurelog/app-compactor';
import { jobsApp } from '@featurelog/app-jobs';
import { materializerApp } from '@featurelog/app-materializer';
import { registryApp } from '@featurelog/app-registry';
import { servingApp } from '@featurelog/app-serving';
import { uiApp } from '@featurelog/app-ui';
import { SILENT_LOGGER } from '@featurelog/domain';
import { startApp } from '@featurelog/runtime';
import { startDevServer } from './dev.actions';

/** Per scope: a key holding only it, and one holding every other scope. */
const ONLY = Object.fromEntries(API_KEY_SCOPES.map((scope) => [scope, `only-${scope}-key-0123456789`])) as Record<
  ApiKeyScope,
  string
>;
const ALL_BUT = Object.fromEntries(API_KEY_SCOPES.map((scope) => [scope, `all-but-${scope}-key-0123456`])) as Record<
  ApiKeyScope,
  string
>;
const WRONG_KEY = 'not-a-key-of-this-project-42';

interface Route {
  method: string;
  url: string;
}

/**
 * Every route a Fastify instance serves, from its own router (its radix tree as printRoutes draws
 * it: each node's text continues its parent's), not from a list written here: a route added later
 * is enumerated too.
 */
function routesOf(fastify: { printRoutes(): string }): Route[] {
  const routes: Route[] = [];
  const path: string[] = [];
  for (const line of fastify.printRoutes().split('\n')) {
    const match = /^((?:[│ ] {3})*)[├└]── (.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!match) continue;
    const depth = match[1]!.length / 4;
    path.length = depth;
    path.push(match[2]!);
    const url = path.join('');
    for (const method of match[3]?.split(', ') ?? []) routes.push({ method, url });
  }
  return routes;
}

/** A concrete URL for a route pattern: params and wildcards filled with harmless values. */
function concrete(url: string): string {
  return url
    .replace(/:partition\b/, '0')
    .replace(/:[A-Za-z]+/g, 'x')
    .replace(/\*$/, 'x');
}

async function request(base: string, route: Route, key?: string): Promise<{ status: number; text: string }> {
  const response = await fetch(`${base}${concrete(route.url)}`, {
    method: route.method,
    headers: key === undefined ? {} : { authorization: `Bearer ${key}` },
    // Subscriptions are endless: the status is all that is wanted.
    signal: AbortSignal.timeout(10_000),
  });
  const text = route.method === 'HEAD' || route.url === '/subscribe' ? '' : await response.text();
  if (route.url === '/subscribe') await response.body?.cancel();
  return { status: response.status, text };
}

/** The web UI app's routes that answer without a key (see apps/ui's UiController). */
const UI_PAGE_ROUTES = new Set(['/', '/config.json', '/assets/:file']);

interface ServedApp {
  name: string;
  url: string;
  fastify: object;
}

/**
 * Each route, as the running server answers: without a key 401, with a key that is not the
 * project's 401; of the keys each holding one scope, exactly one gets through (its scope), and the
 * key holding every other scope gets 403. Only `/health` answers without a key, and then says ok or
 * not ok and nothing more. No answer repeats a presented key.
 */
async function checkEveryRoute(app: ServedApp): Promise<Route[]> {
  const routes = routesOf(app.fastify as never);
  for (const route of routes) {
    const name = `${app.name}: ${route.method} ${route.url}`;
    const wrong = await request(app.url, route, WRONG_KEY);
    assert.equal(wrong.status, 401, `${name} with a wrong key`);
    assert.ok(!wrong.text.includes(WRONG_KEY), `${name}: the answer repeats the key`);
    const anonymous = await request(app.url, route);
    if (app.name === 'ui' && UI_PAGE_ROUTES.has(route.url)) {
      // The web UI's page, its assets and the apps' URLs: public, holding no data (the page asks the apps with a key).
      assert.ok([200, 404].includes(anonymous.status), `${name} without a key: ${anonymous.status}`);
      continue;
    }
    if (route.url === '/health') {
      assert.ok([200, 503].includes(anonymous.status), `${name} without a key: ${anonymous.status}`);
      if (route.method === 'GET') assert.deepEqual(Object.keys(JSON.parse(anonymous.text) as object), ['status']);
      continue;
    }
    assert.equal(anonymous.status, 401, `${name} without a key answered ${anonymous.status}`);
    const allowedTo: ApiKeyScope[] = [];
    for (const scope of API_KEY_SCOPES) {
      const answer = await request(app.url, route, ONLY[scope]);
      assert.ok(answer.status !== 401, `${name}: a valid "${scope}" key is not unauthenticated`);
      assert.ok(!answer.text.includes(ONLY[scope]), `${name}: the answer repeats the key`);
      if (answer.status !== 403) allowedTo.push(scope);
    }
    assert.equal(allowedTo.length, 1, `${name} lets keys of [${allowedTo.join(', ')}] through: it needs one scope`);
    const scope = allowedTo[0]!;
    const lacking = await request(app.url, route, ALL_BUT[scope]);
    assert.equal(lacking.status, 403, `${name} with a key lacking "${scope}" answered ${lacking.status}`);
  }
  return routes;
}

const keysYaml = [
  'serving:',
  '  apiKeys:',
  ...API_KEY_SCOPES.flatMap((scope) => [
    `    - { name: only-${scope}, key: "${ONLY[scope]}", scopes: [${scope}] }`,
    `    - { name: all-but-${scope}, key: "${ALL_BUT[scope]}", scopes: [${API_KEY_SCOPES.filter((s) => s !== scope).join(', ')}] }`,
  ]),
];

async function repoWithKeys(project: string): Promise<{ dir: string; config: ProjectConfig }> {
  const dir = await mkdtemp(join(tmpdir(), `featurelog-${project}-`));
  await writeFile(join(dir, 'featurelog.yaml'), [`project: ${project}`, ...keysYaml, ''].join('\n'));
  return { dir, config: await loadProjectConfig(dir) };
}

describe('every HTTP route of every app refuses a missing key, a wrong key and a key without its scope', () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  });

  it('featurelog dev: the five apps, the log bridge and the health summary', async () => {
    const { dir, config } = await repoWithKeys('devauth');
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const server = await startDevServer(config, { port: () => 0 });
    cleanup.push(() => server.stop());
    const served = new Map<string, Route[]>();
    for (const [name, fastify] of server.http) {
      served.set(name, await checkEveryRoute({ name, url: server.record.urls[name]!, fastify }));
    }
    const urls = (name: string) => (served.get(name) ?? []).map((route) => `${route.method} ${route.url}`);
    // The enumeration found what is known to be there (so an empty or misread route table fails).
    for (const [name, route] of [
      ['serving', 'POST /get-online-features'],
      ['serving', 'POST /push'],
      ['serving', 'GET /subscribe'],
      ['serving', 'GET /docs'],
      ['registry', 'POST /apply'],
      ['jobs', 'GET /jobs/:id'],
      ['jobs', 'POST /jobs/exports'],
      ['dev', 'POST /log/topics/:topic/append'],
      ['dev', 'GET /health'],
      ['materializer', 'GET /metrics'],
      ['compactor', 'GET /health'],
      ['ui', 'GET /config.json'],
      ['ui', 'GET /metrics'],
    ] as const) {
      assert.ok(urls(name).includes(route), `${name} serves ${route}: ${urls(name).join(', ')}`);
    }
  });

  it('each app started on its own', async () => {
    const { dir, config } = await repoWithKeys('appauth');
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const apps: ServedApp[] = [];
    for (const app of [registryApp, materializerApp, compactorApp, jobsApp, servingApp, uiApp]) {
      const running = await startApp(app, config, { port: 0, logger: SILENT_LOGGER });
      cleanup.push(() => running.close());
      apps.push({ name: running.name, url: running.url, fastify: running.http });
    }
    for (const app of apps) assert.ok((await checkEveryRoute(app)).length >= 2, `${app.name} serves routes`);
  });
});
