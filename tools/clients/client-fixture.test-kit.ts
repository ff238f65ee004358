/**
 * The running featurelog every client's own test suite is pointed at (the Python SDK's pytest, the Go
 * client's `go test`, the Java client's `mvn test`, examples/training/train.py): `featurelog dev` on a
 * fresh repo of the drivers example, with API keys, a view with one feature of every type, live rows,
 * and the raw HTTP answers to a set of get-online-features requests (the cases each client must
 * reproduce value for value). Handed to the clients as the environment of /work/wt/CLIENTS-CONTRACT.md:
 * FEATURELOG_SERVING_URL, _REGISTRY_URL, _JOBS_URL, _API_KEY, _PROJECT, _REPO, _CLIENT_CASES, and on
 * Kafka also _BOOTSTRAP and _SCHEMA_REGISTRY_URL.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stackEnv, uniqueName, waitFor } from '@featurelog/testing';
import { DEMO_SERVICE, DEMO_VIEW, runCli, startDev, switchConfigBlock, type RunningDev } from '../quickstart/demo';
import { initRepoWithKeys } from '../quickstart/demo.test-kit';

export type FixtureMode = 'embedded' | 'kafka';

/** A view on the driver entity with one feature of every type a client must decode. */
export const TYPES_VIEW = 'client_types';
const TYPES_VIEW_YAML = `kind: feature_view
name: ${TYPES_VIEW}
description: One feature of every type, for the client tests.
entities: [driver]
features:
  - { name: flag, type: bool }
  - { name: small, type: int32 }
  - { name: count, type: int64 }
  - { name: ratio32, type: float32 }
  - { name: ratio, type: float64 }
  - { name: label, type: string }
  - { name: blob, type: bytes }
  - { name: seen_at, type: timestamp }
  - { name: scores, type: list<float64> }
  - { name: tags, type: list<string> }
`;

/** Drivers with live rows of the drivers view; 1001–1003 also have a row of the types view. */
export const LIVE_DRIVERS = [1001, 1002, 1003, 1004];
const UNKNOWN_DRIVER = 424242;

export interface OnlineCase {
  name: string;
  request: Record<string, unknown>;
  response: unknown;
}

export interface ClientFixture {
  mode: FixtureMode;
  /** The environment every client test reads. */
  env: Record<string, string>;
  repoDir: string;
  cases: OnlineCase[];
  dev: RunningDev;
  stop(): Promise<void>;
}

async function withApiKey<T>(key: string, work: () => Promise<T>): Promise<T> {
  const saved = process.env.FEATURELOG_API_KEY;
  process.env.FEATURELOG_API_KEY = key;
  try {
    return await work();
  } finally {
    if (saved === undefined) delete process.env.FEATURELOG_API_KEY;
    else process.env.FEATURELOG_API_KEY = saved;
  }
}

async function post(url: string, key: string, body: unknown): Promise<{ status: number; json: unknown }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, json: text === '' ? undefined : (JSON.parse(text) as unknown) };
}

function typesRows(now: Date): Array<Record<string, unknown>> {
  const at = now.toISOString();
  return [
    {
      driver_id: 1001,
      event_timestamp: at,
      flag: true,
      small: -2147483648,
      count: 9007199254740991,
      ratio32: 0.1,
      ratio: -1234.5678,
      label: 'naïve café ✓',
      blob: Buffer.from([0, 1, 2, 254, 255]).toString('base64'),
      seen_at: '2026-03-04T05:06:07.123456Z',
      scores: [0.5, -1.25, 1e-9],
      tags: ['a', '', 'ü'],
    },
    {
      driver_id: 1002,
      event_timestamp: at,
      flag: null,
      small: null,
      count: null,
      ratio32: null,
      ratio: null,
      label: null,
      blob: null,
      seen_at: null,
      scores: null,
      tags: null,
    },
    {
      driver_id: 1003,
      event_timestamp: at,
      flag: false,
      small: 0,
      count: -9007199254740991,
      ratio32: 3.4028234663852886e38,
      ratio: 0,
      label: '',
      blob: '',
      seen_at: '1970-01-01T00:00:00Z',
      scores: [],
      tags: [],
    },
  ];
}

function onlineCases(): Array<Omit<OnlineCase, 'response'>> {
  const stats = ['conv_rate', 'acc_rate', 'avg_daily_trips'].map((name) => `${DEMO_VIEW}:${name}`);
  const batch100 = Array.from({ length: 100 }, (_, i) => 1001 + i);
  return [
    { name: 'batch 1, features by list', request: { features: stats, entities: { driver_id: [1001] } } },
    {
      name: 'batch 1, one feature of every type',
      request: { features: [`${TYPES_VIEW}:*`], entities: { driver_id: [1001] } },
    },
    { name: 'null values', request: { features: [`${TYPES_VIEW}:*`], entities: { driver_id: [1002] } } },
    {
      name: 'edge values',
      request: { features: [`${TYPES_VIEW}:*`], entities: { driver_id: [1003] }, full_feature_names: true },
    },
    { name: 'an unknown entity', request: { features: stats, entities: { driver_id: [UNKNOWN_DRIVER] } } },
    {
      name: 'a feature service, found and not found',
      request: { feature_service: DEMO_SERVICE, entities: { driver_id: [...LIVE_DRIVERS, UNKNOWN_DRIVER] } },
    },
    {
      name: 'batch 100, two views, full feature names',
      request: { features: [...stats, `${TYPES_VIEW}:*`], entities: { driver_id: batch100 }, full_feature_names: true },
    },
  ];
}

/**
 * Starts the fixture: `featurelog dev` on the embedded default, or on the local stack's Kafka, schema
 * registry and Redis (a project of its own, so runs never share topics or keys).
 */
export async function startClientFixture(mode: FixtureMode): Promise<ClientFixture> {
  const parent = await mkdtemp(join(tmpdir(), `featurelog-clients-${mode}-`));
  const repoDir = join(parent, 'repo');
  const adminKey = randomBytes(16).toString('hex');
  const clientKey = randomBytes(16).toString('hex');
  process.env.FL_CLIENTS_ADMIN_KEY = adminKey;
  process.env.FL_CLIENTS_KEY = clientKey;
  await initRepoWithKeys(repoDir, parent, [
    { name: 'operator', variable: 'FL_CLIENTS_ADMIN_KEY', scopes: ['admin', 'read', 'push', 'jobs'] },
    { name: 'client', variable: 'FL_CLIENTS_KEY', scopes: ['read', 'push', 'jobs'] },
  ]);
  await writeFile(join(repoDir, 'client_types.yaml'), TYPES_VIEW_YAML);
  let project = 'drivers';
  const stack = stackEnv();
  if (mode === 'kafka') {
    project = uniqueName('clients').replace(/-/g, '_');
    const file = join(repoDir, 'featurelog.yaml');
    await writeFile(file, (await readFile(file, 'utf8')).replace(/^project: drivers$/m, `project: ${project}`));
    await switchConfigBlock(repoDir, 'log', ['type: kafka', `brokers: ${stack.kafkaBrokers.join(',')}`]);
    await switchConfigBlock(repoDir, 'schemaRegistry', ['type: confluent', `url: ${stack.schemaRegistryUrl}`]);
    await switchConfigBlock(repoDir, 'onlineStore', ['type: redis', `url: ${stack.redisUrl}`]);
  }
  const dev = await startDev(repoDir);
  const stop = async () => {
    await dev.stop();
    await rm(parent, { recursive: true, force: true });
  };
  try {
    const { urls } = dev.record;
    if (urls.jobs === undefined) throw new Error('featurelog dev did not name the jobs app in dev.json');
    const jobsUrl = urls.jobs;
    await withApiKey(adminKey, async () => {
      for (const args of [['apply'], ['ingest', DEMO_VIEW, 'data/driver_stats.parquet']]) {
        const result = await runCli(args, repoDir);
        if (result.code !== 0) throw new Error(`featurelog ${args.join(' ')} failed: ${result.stderr}`);
      }
    });
    const now = new Date();
    const stats = LIVE_DRIVERS.map((driver_id, i) => ({
      driver_id,
      event_timestamp: now.toISOString(),
      conv_rate: i === 1 ? null : 0.25 + i / 10,
      acc_rate: 0.5 + i / 100,
      avg_daily_trips: 100 + i,
    }));
    for (const [view, rows] of [
      [DEMO_VIEW, stats],
      [TYPES_VIEW, typesRows(now)],
    ] as const) {
      const pushed = await post(`${urls.serving}/push`, clientKey, { view, rows, to: 'online_and_offline' });
      if (pushed.status !== 200) throw new Error(`POST /push ${view}: ${pushed.status} ${JSON.stringify(pushed.json)}`);
    }
    // Online once driver 1003, pushed last in both views, is served with a value from each.
    await waitFor(
      async () => {
        const answer = await post(`${urls.serving}/get-online-features`, clientKey, {
          features: [`${DEMO_VIEW}:avg_daily_trips`, `${TYPES_VIEW}:count`],
          entities: { driver_id: [1003] },
        });
        const results = (answer.json as { results?: Array<{ statuses: string[] }> }).results ?? [];
        return results.slice(1).every((column) => column.statuses.every((status) => status === 'PRESENT'));
      },
      { timeoutMs: 60_000, intervalMs: 100, description: 'the pushed rows served online' },
    );
    const cases: OnlineCase[] = [];
    for (const each of onlineCases()) {
      const answer = await post(`${urls.serving}/get-online-features`, clientKey, each.request);
      if (answer.status !== 200) throw new Error(`case ${each.name}: ${answer.status} ${JSON.stringify(answer.json)}`);
      cases.push({ ...each, response: answer.json });
    }
    const casesFile = join(parent, 'cases.json');
    await writeFile(casesFile, `${JSON.stringify({ cases }, null, 2)}\n`);
    const env: Record<string, string> = {
      FEATURELOG_SERVING_URL: urls.serving,
      FEATURELOG_REGISTRY_URL: urls.registry,
      FEATURELOG_JOBS_URL: jobsUrl,
      FEATURELOG_API_KEY: clientKey,
      FEATURELOG_PROJECT: project,
      FEATURELOG_REPO: repoDir,
      FEATURELOG_CLIENT_CASES: casesFile,
      ...(mode === 'kafka'
        ? {
            FEATURELOG_BOOTSTRAP: stack.kafkaBrokers.join(','),
            FEATURELOG_SCHEMA_REGISTRY_URL: stack.schemaRegistryUrl,
          }
        : {}),
    };
    return { mode, env, repoDir, cases, dev, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
