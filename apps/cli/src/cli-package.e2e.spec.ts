import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = resolve(__dirname, '..', '..', '..');
/** Node 24 of the checkout first on PATH: the bin's `#!/usr/bin/env node` finds it, as on a user's machine. */
const ENV = {
  ...process.env,
  PATH: `${join(REPO_ROOT, 'node_modules', '.bin')}${delimiter}${process.env.PATH ?? ''}`,
  FORCE_COLOR: '0',
};

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], cwd: string): Promise<Run> {
  return new Promise((done) => {
    execFile(command, args, { cwd, env: ENV, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      done({ code, stdout, stderr });
    });
  });
}

function explain(result: Run): string {
  return `exit ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;
}

/** The file a `# yaml-language-server: $schema=…` comment names, resolved as an editor would from `file`. */
async function schemaTarget(file: string): Promise<string> {
  const reference = /^# yaml-language-server: \$schema=(\S+)$/m.exec(await readFile(file, 'utf8'))?.[1];
  assert.ok(reference, `${file} has no $schema comment`);
  return reference.startsWith('file:') ? fileURLToPath(reference) : resolve(dirname(file), reference);
}

/**
 * The package as npm ships it: `npm pack` (which builds dist/ through `prepare`), installed from the
 * tarball into an empty project with only its dependencies (no devDependencies, nothing of the
 * checkout), then used through `npx featurelog` the way the README says.
 */
describe('featurelog packed and installed into an empty project', { timeout: 600_000 }, () => {
  let work: string;
  let project: string;
  let tarball: string;
  let version: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'featurelog-package-'));
    project = join(work, 'project');
    version = (JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    const packed = await run('npm', ['pack', '--json', '--pack-destination', work], REPO_ROOT);
    assert.equal(packed.code, 0, explain(packed));
    // npm prints the `prepare` output (the build's line) before the JSON.
    const [pack] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as Array<{ filename: string }>;
    tarball = join(work, pack!.filename);
    await run('mkdir', [project], work);
    await writeFile(join(project, 'package.json'), '{ "name": "consumer", "version": "1.0.0", "private": true }\n');
    // The dependencies come from the npm cache that the checkout's own install filled.
    const installed = await run('npm', ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund'], project);
    assert.equal(installed.code, 0, explain(installed));
  });
  after(() => rm(work, { recursive: true, force: true }));

  it('ships the compiled CLI and its data, and no tests, benches or tools', async () => {
    const listed = await run('tar', ['-tzf', tarball], work);
    const files = listed.stdout.split('\n').filter(Boolean);
    for (const needed of [
      'package/bin/featurelog.js',
      'package/dist/apps/cli/src/main.js',
      'package/dist/schemas/featurelog.schema.json',
      'package/dist/topics/registry.yaml',
      'package/dist/examples/drivers/featurelog.yaml',
    ]) {
      assert.ok(files.includes(needed), `${needed} is not in the package`);
    }
    const unwanted = files.filter((file) =>
      /\.spec\.|\.test-kit\.|\.ts$|^package\/(bench|tools|apps|libs)\//.test(file),
    );
    assert.deepEqual(unwanted, []);
    assert.ok(!existsSync(join(project, 'node_modules', 'typescript')), 'a devDependency was installed');
  });

  it('ships no contract suite, fixture, testing entry or libs/testing, and no bench-only package', async () => {
    const listed = await run('tar', ['-tzf', tarball], work);
    const testCode = listed.stdout
      .split('\n')
      .filter((file) => /\.contract\.|\.fixture\.|\/src\/testing\.js$|^package\/dist\/libs\/testing\//.test(file));
    assert.deepEqual(testCode, []);
    // apache-arrow is no longer bench-only: the jobs and serving apps speak Arrow IPC.
    for (const benchOnly of ['parquetjs-lite', 'parquet-wasm', '@kafkajs/confluent-schema-registry']) {
      assert.ok(!existsSync(join(project, 'node_modules', benchOnly)), `${benchOnly} was installed`);
    }
  });

  it('npx featurelog --version prints the package version', async () => {
    const result = await run('npx', ['--no-install', 'featurelog', '--version'], project);
    assert.equal(result.code, 0, explain(result));
    assert.equal(result.stdout.trim(), version);
  });

  it('init --empty writes featurelog.yaml only, with a $schema that resolves inside the installed package', async () => {
    const result = await run('npx', ['--no-install', 'featurelog', 'init', '--empty', 'empty'], project);
    assert.equal(result.code, 0, explain(result));
    const settings = join(project, 'empty', 'featurelog.yaml');
    assert.match(await readFile(settings, 'utf8'), /^project: empty$/m);
    const schema = await schemaTarget(settings);
    assert.equal(schema, join(project, 'node_modules', 'featurelog', 'dist', 'schemas', 'featurelog.schema.json'));
    assert.ok(existsSync(schema), `${schema} does not exist`);
    // Relative, so the reference survives moving or cloning the project.
    assert.match(await readFile(settings, 'utf8'), /\$schema=\.\.\/node_modules\/featurelog\//);

    const plan = await run('npx', ['--no-install', 'featurelog', 'plan'], join(project, 'empty'));
    assert.equal(plan.code, 0, explain(plan));
    assert.match(plan.stdout, /0 to create, 0 to update, 0 to delete, 0 unchanged\.\nNothing to apply\./);
  });

  it('init scaffolds the example, whose plan shows three objects to create (exit 2)', async () => {
    const result = await run('npx', ['--no-install', 'featurelog', 'init', 'drivers'], project);
    assert.equal(result.code, 0, explain(result));
    for (const file of ['featurelog.yaml', 'entities.yaml', 'driver_stats.yaml', 'services.yaml']) {
      assert.ok(existsSync(await schemaTarget(join(project, 'drivers', file))), `${file}: $schema resolves nowhere`);
    }
    const plan = await run('npx', ['--no-install', 'featurelog', '--repo', 'drivers', 'plan'], project);
    assert.equal(plan.code, 2, explain(plan));
    assert.match(plan.stdout, /3 to create, 0 to update, 0 to delete, 0 unchanged\./);
  });
});
