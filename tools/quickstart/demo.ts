/**
 * The featurelog demo, as a user would run it: `featurelog init` a feature repo, run `featurelog dev`
 * in it, then apply, ingest the sample history, push live rows, read online features and export a
 * training set with the CLI. Used by the quickstart (printing as it goes) and by the e2e tests (which
 * run it on the embedded default and on Kafka + Apicurio + Redis, and compare the results).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parquetReadObjects } from 'hyparquet';
import {
  JsonHttpClient,
  liveDevServer,
  runProcess,
  type DevServerRecord,
  type ProcessResult,
} from '@featurelog/runtime';

export const REPO_ROOT = resolve(__dirname, '..', '..');
/** The package's `featurelog` bin: the compiled CLI in dist/ (npm install builds it; `npm run test:e2e` rebuilds it). */
const FEATURELOG_BIN = join(REPO_ROOT, 'bin', 'featurelog.js');
const NODE = join(REPO_ROOT, 'node_modules', '.bin', 'node');

export const DEMO_VIEW = 'driver_hourly_stats';
export const DEMO_SERVICE = 'driver_activity';
/** Drivers that get live rows; 1006 has no row at all (NOT_FOUND). */
export const LIVE_DRIVERS = [1001, 1002, 1003, 1004];
/**
 * Gets one late row, 3 h old: past the view's 2 h TTL, so served as OUTSIDE_MAX_AGE. (Its sample
 * history is older still: Redis has already expired that, the embedded store keeps it; both may.)
 */
export const LATE_DRIVER = 1005;
const LATE_ROW_AGE_MS = 3 * 3_600_000;
export const SHOWN_DRIVERS = [1001, 1002, 1003, 1004, 1005, 1006];
/** Live rows pushed per driver, a second apart, the last one the newest. */
const LIVE_ROWS_PER_DRIVER = 3;
/** How long `featurelog dev` may take to report every app healthy (Kafka group joins take seconds). */
const DEV_READY_TIMEOUT_MS = 90_000;
const VISIBLE_TIMEOUT_MS = 60_000;

/** Entity rows of the training set: moments inside the sample history (2025-01-01 … 2025-01-07, hourly). */
export const DEMO_ENTITY_ROWS = [
  'driver_id,event_timestamp,trip_completed',
  '1001,2025-01-02T09:30:00Z,1',
  '1002,2025-01-02T09:30:00Z,0',
  '1003,2025-01-03T18:00:00Z,1',
  '1004,2025-01-04T07:59:59Z,1',
  '1005,2025-01-05T12:00:00Z,0',
  '1001,2025-01-06T23:15:00Z,1',
  '1002,2025-01-07T23:00:00Z,0',
  // Before any history: the row stays, its features are null.
  '1003,2024-12-31T12:00:00Z,0',
  // Later than the view's TTL (2 h) after the last sample row: null features too.
  '1004,2025-01-08T06:00:00Z,1',
];

export interface DemoOptions {
  /** Where output goes; the quickstart prints, tests collect. */
  print?: (line: string) => void;
  /** Called after `featurelog init`, before anything runs: switch featurelog.yaml blocks here. */
  configure?: (repoDir: string) => Promise<void>;
  /** The folder for the feature repo; default a new temp folder. */
  repoDir?: string;
  /** Keep `featurelog dev` running at the end (the caller stops it). */
  keepRunning?: boolean;
}

export interface OnlineRow {
  driver_id: number;
  values: Record<string, unknown>;
  statuses: Record<string, string>;
}

export interface DemoResult {
  repoDir: string;
  online: OnlineRow[];
  /** The training set's rows, as read back from the Parquet file. */
  training: Array<Record<string, unknown>>;
  /** What the dev server's child process printed. */
  devOutput: () => string;
  timings: Array<{ step: string; ms: number }>;
  totalMs: number;
  /** Stops `featurelog dev` (SIGINT) if it still runs; resolves with its exit code. */
  stopDev: () => Promise<number | null>;
  dev: DevServerRecord;
}

export class DemoStepError extends Error {}

/** Runs the demo end to end; throws DemoStepError naming the step and what the command printed. */
export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const print = options.print ?? (() => undefined);
  const started = performance.now();
  const timings: DemoResult['timings'] = [];
  const step = async <T>(title: string, work: () => Promise<T>): Promise<T> => {
    print(`\n▶ ${title}`);
    const at = performance.now();
    const result = await work();
    const ms = Math.round(performance.now() - at);
    timings.push({ step: title, ms });
    print(`  ✓ ${(ms / 1000).toFixed(1)} s`);
    return result;
  };
  const featurelog = async (args: string[], cwd: string) => {
    print(`  $ featurelog ${args.join(' ')}`);
    const result = await runCli(args, cwd);
    // stderr carries progress lines; they are shown only when the command fails.
    if (result.stdout.trim()) print(indent(result.stdout.trimEnd()));
    if (result.code !== 0) {
      throw new DemoStepError(
        `featurelog ${args.join(' ')} exited with ${result.code}:\n${result.stdout}${result.stderr}`,
      );
    }
    return result.stdout;
  };

  const parent = options.repoDir ?? (await mkdtemp(join(tmpdir(), 'featurelog-quickstart-')));
  const repoDir = options.repoDir ?? join(parent, 'feature_repo');
  await step(
    'featurelog init: an example feature repo (drivers, hourly stats, a feature service, sample history)',
    () => featurelog(['init', repoDir], parent),
  );
  await options.configure?.(repoDir);

  const dev = await step('featurelog dev: every app in one process', () => startDev(repoDir, print));
  const http = new JsonHttpClient();
  try {
    await step('featurelog apply: definitions become events on the registry log', () => featurelog(['apply'], repoDir));
    await step('featurelog ingest: the sample history, validated and produced to the view’s topic', () =>
      featurelog(['ingest', DEMO_VIEW, 'data/driver_stats.parquet'], repoDir),
    );
    const pushed = await step('POST /push: live rows, as a backend app streams them', () =>
      pushLiveRows(http, dev.record, print),
    );
    await step('wait until the materializer has the live rows online', () =>
      waitUntilOnline(http, dev.record, pushed, print),
    );
    const online = await step('featurelog get-online: the feature service for a few drivers', async () => {
      const entities = SHOWN_DRIVERS.flatMap((id) => ['--entity', `driver_id=${id}`]);
      await featurelog(['get-online', '--service', DEMO_SERVICE, ...entities], repoDir);
      const response = await http.request<FeastResponse>('POST', `${dev.record.urls.serving}/get-online-features`, {
        feature_service: DEMO_SERVICE,
        entities: { driver_id: SHOWN_DRIVERS },
      });
      return onlineRows(response.body);
    });
    const training = await step('featurelog export: a point-in-time training set', async () => {
      await writeFile(join(repoDir, 'entity_rows.csv'), `${DEMO_ENTITY_ROWS.join('\n')}\n`);
      print(
        indent(`entity_rows.csv (${DEMO_ENTITY_ROWS.length - 1} rows): driver_id, event_timestamp, trip_completed`),
      );
      await featurelog(
        ['export', '--entities', 'entity_rows.csv', '--service', DEMO_SERVICE, '--output', 'training_set.parquet'],
        repoDir,
      );
      const rows = await readParquetRows(join(repoDir, 'training_set.parquet'));
      print(indent(`first rows of training_set.parquet:\n${renderRows(rows)}`));
      return rows;
    });
    const result: DemoResult = {
      repoDir,
      online,
      training,
      devOutput: dev.output,
      timings,
      totalMs: Math.round(performance.now() - started),
      stopDev: dev.stop,
      dev: dev.record,
    };
    if (!options.keepRunning) await step('stop featurelog dev (SIGINT)', () => dev.stop());
    return result;
  } catch (error) {
    await dev.stop();
    throw error;
  } finally {
    http.close();
  }
}

/** `featurelog <args>` in a child process, as a user types it. */
export function runCli(args: string[], cwd: string): Promise<ProcessResult> {
  return runProcess(NODE, [FEATURELOG_BIN, ...args], { cwd, env: { ...process.env, FORCE_COLOR: '0' } });
}

export interface RunningDev {
  child: ChildProcess;
  record: DevServerRecord;
  output: () => string;
  stop: () => Promise<number | null>;
}

/** Starts `featurelog dev --any-ports` in the repo and waits until dev.json names it and every app is healthy. */
export async function startDev(repoDir: string, print: (line: string) => void = () => undefined): Promise<RunningDev> {
  print('  $ featurelog dev --any-ports');
  const child = spawn(NODE, [FEATURELOG_BIN, 'dev', '--any-ports'], { cwd: repoDir, env: process.env });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
    return exited;
  };
  const deadline = Date.now() + DEV_READY_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) {
      throw new DemoStepError(`featurelog dev exited with ${child.exitCode}:\n${output}`);
    }
    const ready = output.indexOf('Ctrl-C stops it.');
    if (ready >= 0) {
      const record = await liveDevServer(repoDir);
      if (record !== undefined && record.pid === child.pid) {
        print(indent(output.slice(0, ready + 'Ctrl-C stops it.'.length).trim()));
        return { child, record, output: () => output, stop };
      }
    }
    if (Date.now() > deadline) {
      await stop();
      throw new DemoStepError(`featurelog dev was not ready within ${DEV_READY_TIMEOUT_MS} ms:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Deterministic live values, so that two runs (embedded, distributed) can be compared. */
export function liveValues(
  driver: number,
  row: number,
): { conv_rate: number; acc_rate: number; avg_daily_trips: number } {
  const base = driver - 1000;
  return {
    conv_rate: Math.round((0.1 * base + 0.01 * row) * 1000) / 1000,
    acc_rate: Math.round((0.9 - 0.05 * base + 0.001 * row) * 1000) / 1000,
    avg_daily_trips: 100 * base + row,
  };
}

async function pushLiveRows(
  http: JsonHttpClient,
  dev: DevServerRecord,
  print: (line: string) => void,
): Promise<number> {
  const now = Date.now();
  const rows = [
    ...LIVE_DRIVERS.flatMap((driver) =>
      Array.from({ length: LIVE_ROWS_PER_DRIVER }, (_, row) => ({
        driver_id: driver,
        event_timestamp: new Date(now - (LIVE_ROWS_PER_DRIVER - row) * 1_000).toISOString(),
        ...liveValues(driver, row),
      })),
    ),
    {
      driver_id: LATE_DRIVER,
      event_timestamp: new Date(now - LATE_ROW_AGE_MS).toISOString(),
      ...liveValues(LATE_DRIVER, 0),
    },
  ];
  // Streamed one request per row, as events arrive from a backend.
  let produced = 0;
  const at = performance.now();
  for (const row of rows) {
    const response = await http.request<{ produced?: number; message?: string }>('POST', `${dev.urls.serving}/push`, {
      view: DEMO_VIEW,
      rows: [row],
    });
    if (response.status !== 200) {
      throw new DemoStepError(`POST /push answered ${response.status}: ${JSON.stringify(response.body)}`);
    }
    produced += response.body.produced ?? 0;
  }
  const perRow = (performance.now() - at) / rows.length;
  print(
    indent(
      `POST ${dev.urls.serving}/push  {"view":"${DEMO_VIEW}","rows":[{"driver_id":1001,"event_timestamp":"…","conv_rate":…}]}\n` +
        `${produced} rows, one request each (${perRow.toFixed(1)} ms per push): ${LIVE_ROWS_PER_DRIVER} for each of ` +
        `drivers ${LIVE_DRIVERS.join(', ')} (the last one now), 1 for driver ${LATE_DRIVER} from 3 h ago`,
    ),
  );
  return produced;
}

interface FeastResponse {
  metadata: { feature_names: string[] };
  results: Array<{ values: unknown[]; statuses: string[]; event_timestamps: string[] }>;
}

function onlineRows(response: FeastResponse): OnlineRow[] {
  const names = response.metadata.feature_names;
  const ids = response.results[0]!.values;
  return ids.map((id, row) => {
    const values: Record<string, unknown> = {};
    const statuses: Record<string, string> = {};
    names.forEach((name, column) => {
      if (column === 0) return;
      values[name] = response.results[column]!.values[row];
      statuses[name] = response.results[column]!.statuses[row]!;
    });
    return { driver_id: Number(id), values, statuses };
  });
}

/** Polls serving until the newest live row of every live driver is served: produce-to-online end to end. */
async function waitUntilOnline(
  http: JsonHttpClient,
  dev: DevServerRecord,
  pushed: number,
  print: (line: string) => void,
): Promise<void> {
  const at = performance.now();
  const deadline = Date.now() + VISIBLE_TIMEOUT_MS;
  const drivers = [...LIVE_DRIVERS, LATE_DRIVER];
  const newest = [
    ...LIVE_DRIVERS.map((driver) => liveValues(driver, LIVE_ROWS_PER_DRIVER - 1).avg_daily_trips),
    liveValues(LATE_DRIVER, 0).avg_daily_trips,
  ];
  for (;;) {
    const response = await http.request<FeastResponse>('POST', `${dev.urls.serving}/get-online-features`, {
      feature_service: DEMO_SERVICE,
      entities: { driver_id: drivers },
    });
    if (response.status === 200) {
      const trips = response.body.results[response.body.metadata.feature_names.indexOf('avg_daily_trips')]!;
      if (newest.every((value, i) => trips.values[i] === value)) break;
    }
    if (Date.now() > deadline) {
      throw new DemoStepError(`the ${pushed} pushed rows were not online within ${VISIBLE_TIMEOUT_MS} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  print(
    indent(
      `all ${LIVE_DRIVERS.length} drivers serve their newest row ${Math.round(performance.now() - at)} ms after the last push`,
    ),
  );
}

export async function readParquetRows(path: string): Promise<Array<Record<string, unknown>>> {
  const bytes = await readFile(path);
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  return (await parquetReadObjects({ file })) as Array<Record<string, unknown>>;
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'bigint') return value.toString();
  return String(value);
}

export function renderRows(rows: ReadonlyArray<Record<string, unknown>>, limit = 10): string {
  const columns = Object.keys(rows[0] ?? {});
  const shown = rows.slice(0, limit).map((row) => columns.map((column) => cell(row[column])));
  const widths = columns.map((column, i) => Math.max(column.length, ...shown.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((text, i) => text.padEnd(widths[i]!)).join('  ');
  return [line(columns), line(widths.map((width) => '-'.repeat(width))), ...shown.map(line)].join('\n');
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
}

/** Replaces one top-level block of featurelog.yaml (`log:`, `schemaRegistry:`, …) with `lines`. */
export async function switchConfigBlock(repoDir: string, block: string, lines: string[]): Promise<void> {
  const file = join(repoDir, 'featurelog.yaml');
  const text = await readFile(file, 'utf8');
  const pattern = new RegExp(`^${block}:\\n(?:[ #].*\\n|\\n)*`, 'm');
  if (!pattern.test(text)) throw new Error(`featurelog.yaml has no ${block}: block`);
  await writeFile(file, text.replace(pattern, `${block}:\n${lines.map((line) => `  ${line}`).join('\n')}\n\n`));
}
