import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { valueSubject } from '@featurelog/domain';
import { JsonHttpClient, RemoteEventLog } from '@featurelog/runtime';
import { waitFor } from '@featurelog/testing';
import { DEMO_VIEW, runCli, startDev, type RunningDev } from '../../../tools/quickstart/demo';
import { initRepoWithKeys, unknownSchemaPoison } from '../../../tools/quickstart/demo.test-kit';

/**
 * The web UI in a real browser: Debian's Chromium driven by playwright-core (no browser download),
 * against `featurelog dev` on the example repo with API keys on. Every wait is for a selector or a
 * condition with a deadline. Screenshots of the main pages at a laptop and a phone width land in
 * ui/screenshots/ (gitignored); axe-core checks each page.
 */
const CHROMIUM = process.env.FEATURELOG_CHROMIUM ?? '/usr/bin/chromium';
const SCREENSHOTS = resolve(__dirname, '..', '..', '..', 'ui', 'screenshots');
const AXE = require.resolve('axe-core/axe.min.js');
const KEY = 'ui-user-key-0123456789abcdef';
const WRONG_KEY = 'not-the-key-0123456789abcdef';
const READ_ONLY_KEY = 'read-only-key-0123456789abcd';
const WIDTHS = [
  { name: 'laptop', width: 1280, height: 800 },
  { name: 'phone', width: 390, height: 844 },
] as const;
/** Deadline of each wait in the page (the apps answer within a second; exports and consumers take longer). */
const WAIT_MS = 60_000;

const cleanup: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
});

describe('the web UI on featurelog dev (example repo, API keys on), in Chromium', () => {
  let repo: string;
  let dev: RunningDev;
  let browser: Browser;
  let page: Page;
  let ui: string;
  const http = new JsonHttpClient({ apiKey: KEY });
  const figures: Record<string, number> = {};
  const pageErrors: string[] = [];

  before(async () => {
    assert.ok(
      existsSync(CHROMIUM),
      `no Chromium at ${CHROMIUM}: install Debian's chromium (tools/stack/install-system.sh does) or set FEATURELOG_CHROMIUM`,
    );
    const parent = await mkdtemp(join(tmpdir(), 'featurelog-ui-'));
    cleanup.push(() => rm(parent, { recursive: true, force: true }));
    repo = join(parent, 'repo');
    await initRepoWithKeys(repo, parent, [
      { name: 'ui-user', variable: 'FL_UI_KEY', scopes: ['read', 'push', 'apply', 'jobs', 'admin'] },
      { name: 'reader', variable: 'FL_READ_KEY', scopes: ['read'] },
    ]);
    Object.assign(process.env, { FL_UI_KEY: KEY, FL_READ_KEY: READ_ONLY_KEY, FEATURELOG_API_KEY: KEY });
    dev = await startDev(repo);
    cleanup.push(() => dev.stop());
    assert.ok(dev.record.urls.ui, 'dev records the UI');
    ui = dev.record.urls.ui!;
    assert.match(dev.output(), new RegExp(`Web UI: ${ui.replace(/[.]/g, '\\.')}/`));
    const cli = async (args: string[]) => {
      const result = await runCli(args, repo);
      assert.equal(result.code, 0, `featurelog ${args.join(' ')}:\n${result.stdout}\n${result.stderr}`);
    };
    await cli(['apply']);
    await cli(['ingest', DEMO_VIEW, 'data/driver_stats.parquet']);
    // A second version of the view, so its history has a change to diff.
    const file = join(repo, 'driver_stats.yaml');
    await writeFile(
      file,
      (await readFile(file, 'utf8')).replace(/^ttl: 2h$/m, 'ttl: 3h').replace(/^owner: .*$/m, '') +
        '\nowner: ml-platform\n',
    );
    await cli(['apply']);

    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    cleanup.push(() => browser.close());
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.setDefaultTimeout(WAIT_MS);
    page.on('pageerror', (error) => pageErrors.push(String(error)));
    // The page's own code must live with its Content-Security-Policy: a violation is an error too.
    page.on('console', (message) => {
      if (message.type() === 'error' && /Content Security Policy/.test(message.text())) pageErrors.push(message.text());
    });
    await page.route(`${ui}/assets/axe-under-test.js`, (route) => route.fulfill({ path: AXE }));
    await mkdir(SCREENSHOTS, { recursive: true });
  });

  /** Screenshots at both widths and an axe-core run at each; no serious or critical violation. */
  async function capture(name: string): Promise<void> {
    for (const size of WIDTHS) {
      await page.setViewportSize({ width: size.width, height: size.height });
      await page.screenshot({ path: join(SCREENSHOTS, `${name}-${size.width}.png`), fullPage: true });
      // From the UI's own origin, as the page's Content-Security-Policy allows no other script.
      await page.addScriptTag({ url: `${ui}/assets/axe-under-test.js` });
      // Runs in the page (a string: this file is compiled without the DOM's types).
      const violations = await page.evaluate<string[]>(`axe.run().then((result) => result.violations
        .filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => v.id + ' (' + v.impact + '): ' + v.help + ' at ' + v.nodes.map((n) => n.target.join(' ')).join(', ')))`);
      assert.deepEqual(violations, [], `axe on ${name} at ${size.width}px`);
      // Nothing is wider than the screen: tables scroll inside their own box.
      const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
      assert.ok(overflow <= 1, `${name} at ${size.width}px is ${overflow}px wider than the screen`);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
  }

  it('loads the overview: every app healthy, and says how long the page took', async () => {
    const started = Date.now();
    await page.goto(`${ui}/`);
    await page.locator('[data-testid="health-registry"]', { hasText: 'ok' }).waitFor();
    figures.overviewReadyMs = Date.now() - started;
    for (const app of ['materializer', 'compactor', 'jobs', 'serving']) {
      await page.locator(`[data-testid="health-${app}"]`, { hasText: 'ok' }).waitFor();
    }
    figures.overviewAllHealthyMs = Date.now() - started;
    const navigation = await page.evaluate<{ domContentLoaded: number; load: number }>(
      `(() => { const n = performance.getEntriesByType('navigation')[0]; return { domContentLoaded: n.domContentLoadedEventEnd, load: n.loadEventEnd }; })()`,
    );
    figures.domContentLoadedMs = Math.round(navigation.domContentLoaded);
    figures.loadEventMs = Math.round(navigation.load);
    await capture('overview');
  });

  it('lists the project of this deployment with its apps and their health, and says there is one', async () => {
    await page.goto(`${ui}/#/`);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Projects' }).click();
    await page.getByRole('heading', { name: 'Projects', level: 1 }).waitFor();
    for (const app of ['registry', 'materializer', 'compactor', 'jobs', 'serving']) {
      await page.locator(`[data-testid="project-app-${app}"][data-status="ok"]`).waitFor();
    }
    const projects = page.getByRole('table', { name: 'Projects' });
    assert.equal(await projects.locator('tbody tr').count(), 1);
    assert.equal(await projects.locator('tbody th').textContent(), 'drivers');
    assert.match((await page.locator('[data-testid="one-project"]').textContent())!, /one project per deployment/);
    await capture('projects');
  });

  it('asks for a key on a 401, says so on a wrong key, then lists the views with the right one', async () => {
    await page.goto(`${ui}/#/catalog/feature-views`);
    const prompt = page.getByRole('dialog', { name: 'API key' });
    await prompt.getByRole('alert').filter({ hasText: 'needs an API key' }).waitFor();
    await prompt.getByLabel('Key (kept in this tab only)').fill(WRONG_KEY);
    await prompt.getByRole('button', { name: 'Use this key' }).click();
    await prompt.getByRole('alert').filter({ hasText: 'not valid' }).waitFor();
    // A key without the scope a page needs is a 403, with the scopes to ask for.
    await prompt.getByLabel('Key (kept in this tab only)').fill(READ_ONLY_KEY);
    await prompt.getByRole('button', { name: 'Use this key' }).click();
    await page.goto(`${ui}/#/jobs`);
    await page
      .getByRole('dialog', { name: 'API key' })
      .getByRole('alert')
      .filter({ hasText: 'refused this key' })
      .waitFor();
    await page.getByRole('dialog', { name: 'API key' }).getByLabel('Key (kept in this tab only)').fill(KEY);
    await page.getByRole('dialog', { name: 'API key' }).getByRole('button', { name: 'Use this key' }).click();
    await page.getByRole('dialog', { name: 'API key' }).waitFor({ state: 'detached' });
    assert.equal(await page.evaluate(() => sessionStorage.getItem('featurelog.apiKey')), KEY);

    const started = Date.now();
    await page.goto(`${ui}/#/catalog/feature-views`);
    await page.getByRole('link', { name: DEMO_VIEW }).waitFor();
    figures.catalogReadyMs = Date.now() - started;
    await capture('catalog');
    // Search by tag and by owner; a miss shows nothing.
    const search = page.getByLabel('Search by name, tag or owner');
    await search.fill('tag:team=driver-performance');
    await page.getByRole('link', { name: DEMO_VIEW }).waitFor();
    await search.fill('owner:ml-platform');
    await page.getByRole('link', { name: DEMO_VIEW }).waitFor();
    await search.fill('owner:nobody');
    await page.getByText('0 of 1 feature views').waitFor();
    await search.fill('');
  });

  it('works from the keyboard alone: skip link, search, a link, the page’s content focused', async () => {
    await page.goto(`${ui}/#/catalog/feature-views`);
    await page.reload();
    await page.getByRole('link', { name: DEMO_VIEW }).waitFor();
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate<string>('document.activeElement.textContent'), 'Skip to content');
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate<string>('document.activeElement.id'), 'main');
    // From the content: the kind tabs, then the search box.
    for (let i = 0; i < 12; i++) {
      await page.keyboard.press('Tab');
      if ((await page.evaluate<string>('document.activeElement.name')) === 'q') break;
    }
    assert.equal(await page.evaluate<string>('document.activeElement.name'), 'q', 'the search box is reachable');
    await page.keyboard.type('hourly');
    await page.getByText('1 of 1 feature views').waitFor();
    for (let i = 0; i < 12; i++) {
      await page.keyboard.press('Tab');
      if ((await page.evaluate<string>('document.activeElement.textContent')) === DEMO_VIEW) break;
    }
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: new RegExp(DEMO_VIEW) }).waitFor();
    assert.equal(await page.evaluate<string>('document.activeElement.id'), 'main', 'a new page focuses its content');
    await page.goto(`${ui}/#/catalog/feature-views`);
  });

  it('shows a view: schema, TTL, services using it, and its history with a diff', async () => {
    await page.getByRole('link', { name: DEMO_VIEW }).click();
    await page.getByRole('heading', { name: new RegExp(DEMO_VIEW) }).waitFor();
    const schema = page.getByRole('table', { name: `Schema of ${DEMO_VIEW}` });
    await schema.getByRole('rowheader', { name: 'conv_rate' }).waitFor();
    await schema.getByRole('rowheader', { name: 'driver_id' }).waitFor();
    await page.getByText('3.0 h (10800 s)').waitFor();
    await page.getByRole('link', { name: 'driver_activity' }).waitFor();
    const history = page.getByRole('table', { name: `Changes of ${DEMO_VIEW}` });
    await history.locator('tbody tr').nth(1).waitFor();
    const diff = page.locator('pre.diff');
    await diff.locator('.removed', { hasText: '"ttlSeconds": 7200' }).waitFor();
    await diff.locator('.added', { hasText: '"ttlSeconds": 10800' }).waitFor();
    await diff.locator('.added', { hasText: '"owner": "ml-platform"' }).waitFor();
    // The registry as of the first version: the TTL it had then.
    await history.getByRole('link').first().click();
    await page.getByText('2.0 h (7200 s)').waitFor();
    await page.getByRole('link', { name: 'See it now' }).click();
    await page.getByText('3.0 h (10800 s)').waitFor();
    await capture('view');
  });

  it('follows the lineage: the view’s service and entity, and back', async () => {
    await page.goto(`${ui}/#/feature-views/${DEMO_VIEW}`);
    await page.getByRole('link', { name: 'driver_activity' }).click();
    const reads = page.getByRole('region', { name: 'Feature views it reads' });
    await reads.getByRole('link', { name: DEMO_VIEW }).waitFor();
    await capture('service');
    await page.goto(`${ui}/#/entities/driver`);
    await page.getByRole('region', { name: 'Feature views using it' }).getByRole('link', { name: DEMO_VIEW }).click();
    await page.getByRole('table', { name: `Schema of ${DEMO_VIEW}` }).waitFor();
  });

  it('lists the registry’s changesets, each change linked to the object as it then was', async () => {
    await page.goto(`${ui}/#/changes`);
    const changes = page.getByRole('table', { name: 'Accepted changesets, newest first' });
    await changes.locator('tbody tr').nth(1).waitFor();
    // Newest first: the second apply changed only the view.
    const newest = changes.locator('tbody tr').first();
    await newest.getByRole('link', { name: DEMO_VIEW }).click();
    await page.getByText('3.0 h (10800 s)').waitFor();
    await page.goto(`${ui}/#/changes`);
    await changes.locator('tbody tr').nth(1).getByRole('link', { name: DEMO_VIEW }).click();
    await page.getByText('2.0 h (7200 s)').waitFor();
    await page.goto(`${ui}/#/changes`);
    await changes.locator('tbody tr').nth(1).waitFor();
    await capture('changes');
    await page.goto(`${ui}/#/feature-views/${DEMO_VIEW}`);
  });

  it('sees the view’s freshness move while rows are pushed', async () => {
    const consumed = page.locator('[data-testid="rows-consumed"]');
    await consumed.waitFor();
    const before = Number(await consumed.textContent());
    const pushed = await http.request('POST', `${dev.record.urls.serving}/push`, {
      view: DEMO_VIEW,
      rows: [1001, 1002, 1003].map((driver_id, i) => ({
        driver_id,
        event_timestamp: new Date().toISOString(),
        conv_rate: 0.5,
        acc_rate: 0.25,
        avg_daily_trips: 100 + i,
      })),
    });
    assert.equal(pushed.status, 200, JSON.stringify(pushed.body));
    await waitFor(async () => Number(await consumed.textContent()) >= before + 3, {
      timeoutMs: WAIT_MS,
      description: 'the page shows the pushed rows consumed',
    });
    await page.locator('[data-testid="last-write"]', { hasNotText: 'not while' }).waitFor();
    assert.notEqual(await page.locator('[data-testid="recent-delay"]').textContent(), '–');
    // The rows were stamped now: the newest event online is seconds old, in both places it is shown.
    const lagSeconds = page.locator('[data-testid="lag-seconds"]');
    await waitFor(
      async () => /^\d+$/.test((await lagSeconds.textContent()) ?? '') && Number(await lagSeconds.textContent()) < 60,
      {
        timeoutMs: WAIT_MS,
        description: 'the lag in seconds to fall to that of the pushed rows',
      },
    );
    assert.match((await page.locator('[data-testid="newest-event"]').textContent())!, /\(\d+ s ago\)$/);
  });

  it('starts an export from the jobs page, follows it and cancels it there', async () => {
    // Big enough that the export is still running when the page's Cancel arrives.
    const lines = ['driver_id,event_timestamp'];
    for (let i = 0; i < 1_000_000; i++) {
      lines.push(`${1001 + (i % 5)},2025-01-0${1 + (i % 7)}T${String(i % 24).padStart(2, '0')}:00:00Z`);
    }
    await writeFile(join(repo, 'many.csv'), `${lines.join('\n')}\n`);
    // A malformed request is a 400 naming the field, never a 500.
    const refused = await http.request('POST', `${dev.record.urls.jobs}/jobs/exports`, { service: 'driver_activity' });
    assert.equal(refused.status, 400, JSON.stringify(refused.body));
    assert.match((refused.body as { message: string }).message, /^entities /);

    await page.goto(`${ui}/#/jobs`);
    // Paths relative to the jobs app's working directory: the repo under featurelog dev.
    await page.getByLabel(/^Entity file on the jobs server/).fill('many.csv');
    await page.getByLabel('Feature service', { exact: true }).selectOption('driver_activity');
    const output = page.getByLabel(/^Output Parquet file/);
    await output.fill('big.csv');
    await page.getByRole('button', { name: 'Start the export' }).click();
    await page
      .locator('[data-app="jobs"][data-kind="request"]', { hasText: 'INVALID_EXPORT_REQUEST: output:' })
      .waitFor();
    await output.fill('big.parquet');
    await page.getByRole('button', { name: 'Start the export' }).click();
    const jobId = await page.locator('[data-testid="export-submitted"] code').textContent();
    assert.ok(jobId);
    const running = page.locator(`tr[data-job="${jobId}"][data-status="running"]`);
    await running.waitFor();
    await capture('jobs');
    await running.getByRole('button', { name: `Cancel job ${jobId}` }).click();
    await page.locator(`tr[data-job="${jobId}"][data-status="cancelled"]`).waitFor();
    const job = (await http.request('GET', `${dev.record.urls.jobs}/jobs/${jobId}`)).body as {
      spec: { request: { entities: string; service: string; output: string } };
      requestedBy?: string;
      cancel?: { reason?: string };
    };
    assert.deepEqual(job.spec.request, {
      entities: join(repo, 'many.csv'),
      service: 'driver_activity',
      output: join(repo, 'big.parquet'),
    });
    assert.equal(job.requestedBy, 'ui-user', 'the job is requested under the key’s name');
    assert.equal(job.cancel?.reason, 'cancelled from the web UI');
  });

  it('lists a poison record’s dead letters, shows one, and redrives it once its schema is back', async () => {
    const row = {
      driver_id: 4242,
      event_timestamp: Date.now() * 1000,
      conv_rate: 0.42,
      acc_rate: 0.5,
      avg_daily_trips: 42,
      source_app: 'app',
    };
    const { topic, schemas, producerSchema, unknownId, record } = await unknownSchemaPoison(repo, row);
    cleanup.push(() => schemas.close());
    const log = new RemoteEventLog(dev.record, { apiKey: KEY });
    cleanup.push(() => log.close());
    await log.append(topic, [record]);

    await page.goto(`${ui}/#/dlq`);
    const dead = page.locator('tr[data-status="dead"]');
    // The materializer and the compactor each dead-letter the record.
    await dead.nth(1).waitFor();
    await dead.first().getByRole('link').click();
    await page.locator('[data-testid="redrive-check"]', { hasText: 'would fail again: SCHEMA_NOT_FOUND' }).waitFor();
    await capture('dead-letters');

    assert.equal(await schemas.register(valueSubject(topic), producerSchema), unknownId);
    await page.reload();
    await page.locator('[data-testid="redrive-check"]', { hasText: 'would be taken' }).waitFor();
    await page.getByRole('button', { name: /^Redrive / }).click();
    await page.locator('[data-testid="redrive-result"]', { hasText: '2 matched, 2 re-appended' }).waitFor();
    await page.locator('[data-testid="entry-status"]', { hasText: 'redriven' }).waitFor();
    await waitFor(
      async () => {
        const response = await http.request('POST', `${dev.record.urls.serving}/get-online-features`, {
          features: [`${DEMO_VIEW}:conv_rate`],
          entities: { driver_id: [4242] },
        });
        return JSON.stringify(response.body).includes('0.42');
      },
      { timeoutMs: WAIT_MS, description: 'the redriven row is served' },
    );
  });

  it('looks features up online and gives the request as curl, Python and TypeScript', async () => {
    await page.goto(`${ui}/#/lookup`);
    await page.getByLabel('Feature service', { exact: true }).selectOption('driver_activity');
    await page.getByLabel(/^Entities/).fill('driver_id=1001,4242,999999');
    await page.getByRole('button', { name: 'Get online features' }).click();
    const results = page.getByRole('table', { name: 'Online features' });
    await results.getByText('PRESENT').first().waitFor();
    await results.getByText('NOT_FOUND').first().waitFor();
    await page.locator('pre[data-language="curl"]', { hasText: '/get-online-features' }).waitFor();
    const python = await page.locator('pre[data-language="Python"]').textContent();
    assert.match(python!, /requests\.post/);
    assert.doesNotMatch(
      (await page.locator('#snippets-heading ~ *').allTextContents()).join('\n'),
      new RegExp(KEY),
      'no snippet holds the key',
    );
    await capture('lookup');
  });

  it('stays quick on a registry of 2,000 views (the registry’s answer made in the browser)', async () => {
    const items = Array.from({ length: 2_000 }, (_, i) => ({
      name: `view_${String(i).padStart(4, '0')}`,
      version: 1,
      entities: ['driver'],
      features: Array.from({ length: 10 }, (_, f) => ({ name: `feature_${f}`, type: 'float64' })),
      ttlSeconds: 3600,
      online: true,
      offline: true,
      owner: `team_${i % 20}`,
      tags: { domain: `d${i % 50}` },
      description: `synthetic view ${i}`,
    }));
    const origin = new URL(ui).origin;
    await page.route(`${dev.record.urls.registry}/feature-views`, (route) =>
      route.fulfill({ json: { version: 1, items }, headers: { 'access-control-allow-origin': origin } }),
    );
    await page.goto(`${ui}/#/`);
    let started = Date.now();
    await page.goto(`${ui}/#/catalog/feature-views`);
    await page.getByText('2000 of 2000 feature views').waitFor();
    figures.catalog2000ViewsMs = Date.now() - started;
    started = Date.now();
    await page.getByLabel('Search by name, tag or owner').fill('owner:team_7 tag:domain=d7');
    // i % 20 = 7 and i % 50 = 7: i = 7 (mod 100).
    await page.getByText('20 of 2000 feature views').waitFor();
    figures.search2000ViewsMs = Date.now() - started;
    await page.getByRole('link', { name: 'view_0107' }).waitFor();
    await page.unrouteAll();
  });

  it('shows an app that does not answer as down, and the rest still works', async () => {
    await page.route(`${dev.record.urls.compactor}/**`, (route) => route.abort('connectionrefused'));
    await page.route(`${dev.record.urls.jobs}/**`, (route) => route.abort('connectionrefused'));
    await page.goto(`${ui}/#/`);
    await page.locator('[data-testid="health-compactor"]', { hasText: 'down' }).waitFor();
    await page.locator('[data-testid="health-registry"]', { hasText: 'ok' }).waitFor();
    await page.goto(`${ui}/#/jobs`);
    await page.locator('[data-kind="down"][data-app="jobs"]').waitFor();
    await page.goto(`${ui}/#/projects`);
    await page.locator('[data-testid="project-app-jobs"][data-status="down"]').waitFor();
    await page.locator('[data-testid="project-app-registry"][data-status="ok"]').waitFor();
    await page.goto(`${ui}/#/catalog/feature-views`);
    await page.getByRole('link', { name: DEMO_VIEW }).waitFor();
    await page.unrouteAll();
    assert.deepEqual(pageErrors, [], 'no script error in the page');
    process.stdout.write(`web UI figures on the example repo: ${JSON.stringify(figures)}\n`);
  });
});
