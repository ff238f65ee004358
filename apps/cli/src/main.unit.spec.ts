import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { main } from './main';
import { packageRoot } from './package-files';
import { projectNameFor, schemaReference } from './scaffold';

const REPO_ROOT = resolve(__dirname, '..', '..', '..');
const NODE = join(REPO_ROOT, 'node_modules', '.bin', 'node');
const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** Runs the CLI in-process and returns what it printed on stdout and the exit code a shell would see. */
async function featurelog(...args: string[]): Promise<{ code: number; stdout: string }> {
  let stdout = '';
  const write = process.stdout.write.bind(process.stdout);
  // The test runner reports to its parent through this stream too, in binary chunks: those go through.
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    if (typeof chunk !== 'string') return write(chunk, ...rest);
    stdout += chunk;
    return true;
  }) as typeof process.stdout.write;
  try {
    const code = await main(['node', 'featurelog', ...args]);
    return { code, stdout };
  } finally {
    process.stdout.write = write;
    process.exitCode = 0;
  }
}

/**
 * Runs `featurelog <args>` from the sources in a fresh process and lists every file it loaded beyond
 * what the process had before main.ts: what start-up costs a user of that command.
 */
function loadedBy(args: string[]): Promise<{ stdout: string; loaded: string[] }> {
  const script = `
    const before = new Set(Object.keys(require.cache));
    const { main } = require(${JSON.stringify(join(__dirname, 'main.ts'))});
    main(['node', 'featurelog', ...${JSON.stringify(args)}]).then((code) => {
      const loaded = Object.keys(require.cache).filter((file) => !before.has(file));
      process.stderr.write('LOADED ' + JSON.stringify({ code, loaded }));
    });`;
  return new Promise((done, fail) => {
    execFile(
      NODE,
      ['-r', require.resolve('@swc-node/register'), '-e', script],
      { cwd: tmpdir(), env: { ...process.env, SWC_NODE_PROJECT: join(REPO_ROOT, 'tsconfig.json') } },
      (error, stdout, stderr) => {
        const report = /LOADED (.*)$/.exec(stderr)?.[1];
        if (report === undefined) return fail(error ?? new Error(`no report: ${stderr}`));
        const { code, loaded } = JSON.parse(report) as { code: number; loaded: string[] };
        assert.equal(code, 0, stderr);
        done({ stdout, loaded: loaded.map((file) => relative(REPO_ROOT, file)) });
      },
    );
  });
}

/** What a command's declaration may load: commander and the CLI's own light files, no lib, no driver. */
function assertLight(loaded: readonly string[]): void {
  const own = loaded.filter((file) => !file.includes('node_modules'));
  const packages = loaded.filter((file) => file.includes('node_modules'));
  assert.deepEqual(
    own.filter(
      (file) =>
        !/^apps\/cli\/src\/(main|package-files|exit-codes|api-key-env|commands\/[\w-]+\.commands)\.ts$/.test(file),
    ),
    [],
    'only main.ts, package-files.ts, exit-codes.ts, api-key-env.ts and the *.commands.ts declarations',
  );
  const heavy = packages.filter((file) => !/node_modules\/commander\//.test(file));
  assert.deepEqual(heavy, [], 'no package but commander');
}

describe('featurelog start-up', () => {
  it('--help lists every command and loads commander and the command declarations only', async () => {
    const { stdout, loaded } = await loadedBy(['--help']);
    for (const command of ['init', 'plan', 'apply', 'ls', 'describe', 'history', 'ingest', 'export', 'backfill'])
      assert.match(stdout, new RegExp(`^  ${command} `, 'm'));
    assert.match(stdout, /^ {2}dev /m);
    assert.match(stdout, /^ {2}get-online /m);
    assertLight(loaded);
    assert.ok(loaded.some((file) => file.endsWith('commands/dev.commands.ts')));
    assert.ok(!loaded.some((file) => file.endsWith('.actions.ts')));
  });

  it("a command's own --help loads no more", async () => {
    const { stdout, loaded } = await loadedBy(['dev', '--help']);
    assert.match(stdout, /--any-ports/);
    assertLight(loaded);
  });

  it('--version prints the version of package.json, loading nothing more', async () => {
    const { stdout, loaded } = await loadedBy(['--version']);
    assert.equal(stdout.trim(), VERSION);
    assertLight(loaded);
    assert.equal(packageRoot(), REPO_ROOT);
  });
});

describe('featurelog init', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cli-init-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('--empty writes featurelog.yaml only, named after the folder, and plan has nothing to do', async () => {
    const repo = join(dir, 'My Features');
    assert.equal((await featurelog('init', '--empty', repo)).code, 0);
    const settings = await readFile(join(repo, 'featurelog.yaml'), 'utf8');
    assert.match(settings, /^project: my_features$/m);
    assert.match(settings, /^log:\n {2}type: embedded$/m);
    const plan = await featurelog('--repo', repo, 'plan');
    assert.equal(plan.code, 0, plan.stdout);
    assert.match(plan.stdout, /0 to create, 0 to update, 0 to delete, 0 unchanged\.\nNothing to apply\./);
  });

  it("writes $schema comments that resolve to featurelog's schemas from a folder outside the checkout", async () => {
    const repo = join(dir, 'example');
    assert.equal((await featurelog('init', repo)).code, 0);
    for (const [file, schema] of [
      ['featurelog.yaml', 'featurelog.schema.json'],
      ['entities.yaml', 'definitions.schema.json'],
      ['driver_stats.yaml', 'definitions.schema.json'],
      ['services.yaml', 'definitions.schema.json'],
    ] as const) {
      const reference = /^# yaml-language-server: \$schema=(\S+)$/m.exec(await readFile(join(repo, file), 'utf8'))?.[1];
      assert.ok(reference !== undefined && reference.startsWith('file:'), `${file}: ${reference}`);
      assert.equal(fileURLToPath(reference), join(REPO_ROOT, 'schemas', schema));
      assert.ok(existsSync(fileURLToPath(reference)));
    }
  });

  it('refers to the schemas by a relative path from a repo inside the project that holds featurelog', () => {
    const schema = join(REPO_ROOT, 'schemas', 'featurelog.schema.json');
    const inside = join(REPO_ROOT, 'examples', 'mine');
    assert.equal(schemaReference(schema, inside), '../../schemas/featurelog.schema.json');
    assert.equal(resolve(inside, schemaReference(schema, inside)), schema);
    const outside = join(dirname(REPO_ROOT), 'elsewhere');
    assert.equal(schemaReference(schema, outside), pathToFileURL(schema).href);
  });

  it('names the project after the folder, as a valid project name', () => {
    assert.equal(projectNameFor('/x/feature_repo'), 'feature_repo');
    assert.equal(projectNameFor('/x/My Repo.v2'), 'my_repo_v2');
    assert.equal(projectNameFor('/x/2024-drivers'), 'drivers');
    assert.equal(projectNameFor('/x/123'), 'features');
  });
});

describe('featurelog describe', () => {
  let dir: string;
  let repo: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cli-describe-'));
    repo = join(dir, 'repo');
    assert.equal((await featurelog('init', repo)).code, 0);
    await writeFile(
      join(repo, 'forever.yaml'),
      'kind: feature_view\nname: lifetime_stats\nentities: [driver]\nttl: 0\nfeatures:\n  - name: trips\n    type: int64\n',
    );
    assert.equal((await featurelog('--repo', repo, 'apply')).code, 0);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it("shows a view in its YAML's names: ttl as a duration, not ttlSeconds", async () => {
    const { code, stdout } = await featurelog('--repo', repo, 'describe', 'feature_view', 'driver_hourly_stats');
    assert.equal(code, 0);
    assert.match(stdout, /^ttl: 2h$/m);
    assert.doesNotMatch(stdout, /ttlSeconds|joinKeys/);
  });

  it('shows an entity with join_keys', async () => {
    const { stdout } = await featurelog('--repo', repo, 'describe', 'entity', 'driver');
    assert.match(stdout, /^join_keys:$/m);
  });

  it('explains an unbounded TTL (ttl: 0)', async () => {
    const { stdout } = await featurelog('--repo', repo, 'describe', 'feature_view', 'lifetime_stats');
    assert.match(stdout, /^ttl: 0 # unbounded: /m);
  });

  it('keeps the registry form under --json', async () => {
    const { stdout } = await featurelog('--repo', repo, '--json', 'describe', 'feature_view', 'driver_hourly_stats');
    assert.equal((JSON.parse(stdout) as { definition: { ttlSeconds: number } }).definition.ttlSeconds, 7200);
  });
});
