/**
 * CLI start-up bench: what a `featurelog` call costs before and while it does its work, beside
 * `node -e 0` (the floor: Node's own start on the same Node) measured in the same run.
 *
 *   node_modules/.bin/node -r @swc-node/register bench/cli/cli.bench.ts
 *   BENCH_RUNS=10 (default)   BENCH_SOURCES=0 (skip the rows from the TypeScript sources)
 *
 * Each command is a whole process, as a user starts it (`node bin/featurelog.js …`, the compiled CLI
 * in dist/, built first by `npm run build`), run BENCH_RUNS times in turn with `node -e 0` (A B A B …,
 * so a drift of the machine's speed hits both); the median is printed. CPU (user + system) and peak
 * memory (the largest resident set) are GNU time's (/usr/bin/time %U %S %M); on a shared machine the
 * CPU figure is the one that stays the command's own. The commands:
 * - `--help`, `--version`: start-up alone;
 * - `plan` on the example repo (`featurelog init`, embedded default, nothing applied): start-up, reading
 *   and validating the repo, opening the embedded log and folding the registry;
 * - the same from the TypeScript sources through @swc-node/register (how the bin ran before it was
 *   compiled), for comparison.
 *
 * Targets (issue #12): `--help` < 0.25 s, `plan` < 0.6 s, peak memory of `--help` < 80 MiB.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Table3 from 'cli-table3';

const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const SOURCES = process.env.BENCH_SOURCES !== '0';
const REPO_ROOT = resolve(__dirname, '..', '..');
const NODE = join(REPO_ROOT, 'node_modules', '.bin', 'node');
const BIN = join(REPO_ROOT, 'bin', 'featurelog.js');
const TIME = '/usr/bin/time';
const FROM_SOURCE = ['-r', require.resolve('@swc-node/register'), join(REPO_ROOT, 'apps', 'cli', 'src', 'main.ts')];

interface Sample {
  wallMs: number;
  /** User + system CPU of the process: what it costs when the machine is shared (wall is then not its own). */
  cpuMs: number | undefined;
  peakMiB: number | undefined;
  code: number;
}

/** One whole process; peak memory from GNU time when the machine has it. */
function once(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Sample> {
  const withTime = existsSync(TIME);
  const [command, argv] = withTime ? [TIME, ['-f', 'PEAK_KB %M CPU %U %S', NODE, ...args]] : [NODE, args];
  return new Promise((done, fail) => {
    const started = performance.now();
    const child = spawn(command, argv, { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', fail);
    child.on('close', (code) => {
      const wallMs = performance.now() - started;
      // GNU time also says "Command exited with non-zero status 2" for plan's exit 2: that is the plan's answer.
      const report = /PEAK_KB (\d+) CPU ([\d.]+) ([\d.]+)/.exec(stderr);
      done({
        wallMs,
        cpuMs: report ? (Number(report[2]) + Number(report[3])) * 1000 : undefined,
        peakMiB: report ? Number(report[1]) / 1024 : undefined,
        code: code ?? -1,
      });
    });
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

interface Row {
  name: string;
  wallMs: number;
  cpuMs: number | undefined;
  peakMiB: number | undefined;
  floorWallMs: number;
  floorCpuMs: number | undefined;
  floorPeakMiB: number | undefined;
  target: string;
}

/** `args` and `node -e 0` in turn, RUNS times each after one warm-up of each. */
async function measure(
  name: string,
  args: string[],
  {
    cwd,
    env = process.env,
    expectCode = 0,
    target = '',
  }: { cwd: string; env?: NodeJS.ProcessEnv; expectCode?: number; target?: string },
): Promise<Row> {
  const a: Sample[] = [];
  const b: Sample[] = [];
  for (let run = -1; run < RUNS; run++) {
    const sample = await once(args, cwd, env);
    if (sample.code !== expectCode) throw new Error(`${name}: exit ${sample.code}, expected ${expectCode}`);
    const floor = await once(['-e', '0'], cwd, env);
    if (run < 0) continue;
    a.push(sample);
    b.push(floor);
  }
  const peak = (samples: Sample[]) =>
    samples[0]!.peakMiB === undefined ? undefined : median(samples.map((s) => s.peakMiB!));
  const cpu = (samples: Sample[]) =>
    samples[0]!.cpuMs === undefined ? undefined : median(samples.map((s) => s.cpuMs!));
  return {
    name,
    wallMs: median(a.map((s) => s.wallMs)),
    cpuMs: cpu(a),
    peakMiB: peak(a),
    floorWallMs: median(b.map((s) => s.wallMs)),
    floorCpuMs: cpu(b),
    floorPeakMiB: peak(b),
    target,
  };
}

function verdict(value: number | undefined, limit: number): string {
  return value === undefined ? '?' : value < limit ? '✓' : '✗';
}

async function main(): Promise<void> {
  process.stdout.write(`cli bench: ${RUNS} runs each, load average ${loadavg()[0]!.toFixed(1)} at start\n`);
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: REPO_ROOT, stdio: 'inherit' });
  const dir = await mkdtemp(join(tmpdir(), 'featurelog-cli-bench-'));
  try {
    const repo = join(dir, 'feature_repo');
    execFileSync(NODE, [BIN, 'init', repo], { stdio: 'ignore' });
    const sourceEnv = { ...process.env, SWC_NODE_PROJECT: join(REPO_ROOT, 'tsconfig.json') };
    const rows: Row[] = [];
    const help = await measure('featurelog --help', [BIN, '--help'], { cwd: dir });
    rows.push({
      ...help,
      target: `< 250 ms ${verdict(help.wallMs, 250)}; < 80 MiB ${verdict(help.peakMiB, 80)}`,
    });
    rows.push(await measure('featurelog --version', [BIN, '--version'], { cwd: dir }));
    const plan = await measure('featurelog plan (example repo)', [BIN, 'plan'], { cwd: repo, expectCode: 2 });
    rows.push({ ...plan, target: `< 600 ms ${verdict(plan.wallMs, 600)}` });
    if (SOURCES) {
      rows.push(
        await measure('from TS sources (swc-node): --help', [...FROM_SOURCE, '--help'], { cwd: dir, env: sourceEnv }),
      );
      rows.push(
        await measure('from TS sources (swc-node): plan', [...FROM_SOURCE, 'plan'], {
          cwd: repo,
          env: sourceEnv,
          expectCode: 2,
        }),
      );
    }
    const table = new Table3({
      head: ['command', 'wall ms', 'cpu ms', 'peak MiB', 'node -e 0: wall', 'cpu', 'MiB', 'wall − floor', 'target'],
      style: { head: [], border: [] },
    });
    const mib = (value: number | undefined) => (value === undefined ? '—' : value.toFixed(1));
    const ms = (value: number | undefined) => (value === undefined ? '—' : value.toFixed(0));
    for (const row of rows) {
      table.push([
        row.name,
        ms(row.wallMs),
        ms(row.cpuMs),
        mib(row.peakMiB),
        ms(row.floorWallMs),
        ms(row.floorCpuMs),
        mib(row.floorPeakMiB),
        (row.wallMs - row.floorWallMs).toFixed(0),
        row.target,
      ]);
    }
    process.stdout.write(`${table.toString()}\n`);
    process.stdout.write(`load average ${loadavg()[0]!.toFixed(1)} at the end\n`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

void main().catch((error: unknown) => {
  process.stderr.write(
    `cli bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exitCode = 1;
});
