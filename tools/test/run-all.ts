/**
 * `npm test`: every tier, against the real stack. Brings the stack up when it is not
 * running and takes it down again only if this run started it, so the machine is left
 * as it was found. Ends with one summary line over all tiers.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

const repo = resolve(__dirname, '..', '..');
// The Redis Cluster variants of the online store, materializer and serving tests run in every full
// run: the stack starts the cluster too (FEATURELOG_REDIS_CLUSTER=0 leaves it out, and they skip).
process.env.FEATURELOG_REDIS_CLUSTER ??= '1';
const tiers = (process.env.FEATURELOG_TEST_TIERS ?? 'unit,int,e2e').split(',').filter(Boolean);

function run(
  command: string,
  args: string[],
  capture = false,
  quiet = false,
): Promise<{ code: number; output: string }> {
  return new Promise((done) => {
    const child = spawn(command, args, { cwd: repo, stdio: ['ignore', capture ? 'pipe' : 'inherit', 'inherit'] });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      if (!quiet) process.stdout.write(chunk);
      output += chunk.toString();
    });
    child.on('close', (code) => done({ code: code ?? 1, output }));
  });
}

const stack = (verb: string) => run(process.execPath, ['-r', '@swc-node/register', 'tools/stack/stack.ts', verb]);

type StackState = 'all-answering' | 'none' | 'partial';

/** Whether every service of the stack is up and answering, none is, or some are. */
async function stackState(): Promise<StackState> {
  const { output } = await run(
    process.execPath,
    ['-r', '@swc-node/register', 'tools/stack/stack.ts', 'status', '--json'],
    true,
    true,
  );
  const rows = JSON.parse(output) as Array<{ state: string; answering?: boolean }>;
  if (rows.every((row) => row.state === 'running' && row.answering)) return 'all-answering';
  if (rows.every((row) => row.state === 'not-started')) return 'none';
  return 'partial';
}

function count(output: string, label: string): number {
  const matches = [...output.matchAll(new RegExp(`^ℹ ${label} (\\d+)$`, 'gm'))];
  return matches.length ? Number(matches[matches.length - 1]![1]) : 0;
}

async function main(): Promise<number> {
  const needsStack = tiers.some((tier) => tier !== 'unit');
  let startedStack = false;
  const before = needsStack ? await stackState() : 'all-answering';
  if (before !== 'all-answering') {
    console.log(`test: the stack is ${before === 'none' ? 'not running' : 'partly running'}; starting it for this run`);
    if ((await stack('up')).code !== 0) {
      console.error('test: the stack did not come up; not running the int/e2e tiers');
      return 1;
    }
    // Only a stack this run started from nothing is stopped again; a partly running one was somebody's.
    startedStack = before === 'none';
  }
  let passed = 0;
  let failed = 0;
  let code = 0;
  try {
    for (const tier of tiers) {
      const started = Date.now();
      console.log(`\n=== ${tier} tests ===`);
      const result = await run('npm', ['run', '--silent', `test:${tier}`], true);
      passed += count(result.output, 'pass');
      failed += count(result.output, 'fail');
      if (result.code !== 0) code = result.code;
      console.log(`=== ${tier} tests: exit ${result.code} in ${((Date.now() - started) / 1000).toFixed(1)} s ===`);
    }
  } finally {
    if (startedStack) await stack('down');
  }
  console.log(`\ntests: ${passed} passed, ${failed} failed`);
  return code !== 0 || failed > 0 ? code || 1 : 0;
}

main().then((code) => process.exit(code));
