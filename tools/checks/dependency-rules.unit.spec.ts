/**
 * The dependency rules are only worth having if they fail: this builds a small tree that breaks
 * them (a domain file importing a driver, a pit file importing a framework, a deep import into a
 * lib or into another app, a production file loading a contract suite, node:test or a lib's `testing`
 * entry, serving or jobs importing a consumer, the offline store importing NestJS) and one that keeps them,
 * and runs dependency-cruiser with the project's own config on both.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { existsSync } from 'node:fs';

const repo = resolve(__dirname, '..', '..');

async function tree(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'depcheck-'));
  await symlink(join(repo, 'node_modules'), join(root, 'node_modules'));
  await copyFile(join(repo, '.dependency-cruiser.js'), join(root, '.dependency-cruiser.js'));
  const paths = {
    '@featurelog/domain': ['libs/domain/src/index.ts'],
    '@featurelog/log': ['libs/log/src/index.ts'],
    '@featurelog/log/testing': ['libs/log/src/testing.ts'],
    '@featurelog/materializer': ['libs/materializer/src/index.ts'],
    '@featurelog/compactor': ['libs/compactor/src/index.ts'],
    '@featurelog/view-rows': ['libs/view-rows/src/index.ts'],
    '@featurelog/offline-store': ['libs/offline-store/src/index.ts'],
    '@featurelog/app-a': ['apps/a/src/index.ts'],
  };
  await writeFile(join(root, 'tsconfig.json'), JSON.stringify({ compilerOptions: { baseUrl: '.', paths } }));
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), text);
  }
  return root;
}

function depcruise(root: string) {
  const bin = join(repo, 'node_modules', '.bin', 'depcruise');
  return spawnSync(
    bin,
    ['libs', ...(existsSync(join(root, 'apps')) ? ['apps'] : []), '--config', '.dependency-cruiser.js'],
    { cwd: root, encoding: 'utf8' },
  );
}

describe('dependency rules', () => {
  const roots: string[] = [];
  after(() => Promise.all(roots.map((root) => rm(root, { recursive: true, force: true }))));

  it('refuse a driver in libs/domain, a framework in libs/pit and a deep import into a lib or another app', async () => {
    const root = await tree({
      'libs/domain/src/index.ts': "export * from './bad';\n",
      'libs/domain/src/bad.ts': "import { Kafka } from 'kafkajs';\nexport const k = Kafka;\n",
      'libs/pit/src/index.ts': "import { Injectable } from '@nestjs/common';\nexport const i = Injectable;\n",
      'libs/log/src/index.ts': "export * from './inner';\n",
      'libs/log/src/inner.ts': 'export const inner = 1;\n',
      'apps/x/src/main.ts': "import { inner } from '../../../libs/log/src/inner';\nexport const x = inner;\n",
      'apps/a/src/index.ts': "export { a } from './a.module';\n",
      'apps/a/src/a.module.ts': 'export const a = 1;\n',
      'apps/b/src/main.ts': "import { a } from '../../a/src/a.module';\nexport const b = a;\n",
    });
    roots.push(root);
    const result = depcruise(root);
    assert.notEqual(result.status, 0, result.stdout);
    assert.match(result.stdout, /pure-libs-import-no-framework-or-driver: libs\/domain\/src\/bad\.ts/);
    assert.match(result.stdout, /pure-libs-import-no-framework-or-driver: libs\/pit\/src\/index\.ts/);
    assert.match(result.stdout, /no-deep-imports-into-libs: apps\/x\/src\/main\.ts/);
    assert.match(result.stdout, /no-deep-imports-into-apps: apps\/b\/src\/main\.ts → apps\/a\/src\/a\.module\.ts/);
  });

  it("refuse test code reached from production: a contract in a barrel, node:test, a lib's testing entry", async () => {
    const root = await tree({
      'libs/log/src/index.ts': "export * from './log.contract';\n",
      'libs/log/src/log.contract.ts': "import { it } from 'node:test';\nexport const suite = () => it('works');\n",
      'libs/log/src/testing.ts': "export * from './log.contract';\n",
      'libs/log/src/check.ts': "import assert from 'node:assert/strict';\nexport const check = assert;\n",
      'apps/x/src/main.ts': "import { suite } from '@featurelog/log/testing';\nexport const x = suite;\n",
    });
    roots.push(root);
    const result = depcruise(root);
    assert.notEqual(result.status, 0, result.stdout);
    assert.match(
      result.stdout,
      /production-never-imports-test-code: libs\/log\/src\/index\.ts → libs\/log\/src\/log\.contract\.ts/,
    );
    assert.match(
      result.stdout,
      /production-never-imports-test-code: apps\/x\/src\/main\.ts → libs\/log\/src\/testing\.ts/,
    );
    assert.match(result.stdout, /production-never-imports-node-test: libs\/log\/src\/check\.ts → assert\/strict/);
    assert.doesNotMatch(result.stdout, /libs\/log\/src\/log\.contract\.ts → node:test/);
  });

  it('refuse serving or jobs importing the materializer or the compactor (tests too), and NestJS in the offline store', async () => {
    const root = await tree({
      'libs/materializer/src/index.ts': 'export class ViewProjection {}\n',
      'libs/compactor/src/index.ts': 'export class ViewCompactor {}\n',
      'libs/serving/src/feed.ts':
        "import { ViewProjection } from '@featurelog/materializer';\nexport const p = ViewProjection;\n",
      'libs/jobs/src/dead-letters.ts':
        "import { ViewProjection } from '@featurelog/materializer';\nexport const p = ViewProjection;\n",
      'libs/jobs/src/export.int.spec.ts':
        "import { ViewCompactor } from '@featurelog/compactor';\nexport const c = ViewCompactor;\n",
      'libs/offline-store/src/index.ts': "import { Injectable } from '@nestjs/common';\nexport const i = Injectable;\n",
    });
    roots.push(root);
    const result = depcruise(root);
    assert.notEqual(result.status, 0, result.stdout);
    assert.match(
      result.stdout,
      /readers-never-import-consumers: libs\/serving\/src\/feed\.ts → libs\/materializer\/src\/index\.ts/,
    );
    assert.match(
      result.stdout,
      /readers-never-import-consumers: libs\/jobs\/src\/dead-letters\.ts → libs\/materializer\/src\/index\.ts/,
    );
    assert.match(
      result.stdout,
      /readers-never-import-consumers: libs\/jobs\/src\/export\.int\.spec\.ts → libs\/compactor\/src\/index\.ts/,
    );
    assert.match(result.stdout, /view-rows-and-offline-store-import-no-framework: libs\/offline-store\/src\/index\.ts/);
  });

  it("accept a tree that keeps them (specs reach contracts through a lib's testing entry, apps another app's entry)", async () => {
    const root = await tree({
      'libs/domain/src/index.ts': "export * from './good';\n",
      'libs/domain/src/good.ts': 'export const good = 1;\n',
      'libs/log/src/index.ts':
        "import { Kafka } from 'kafkajs';\nimport { good } from '@featurelog/domain';\nexport const k = [Kafka, good];\n",
      'libs/log/src/log.contract.ts': "import { it } from 'node:test';\nexport const suite = () => it('works');\n",
      'libs/log/src/testing.ts': "export * from './log.contract';\n",
      'apps/x/src/x.unit.spec.ts': "import { suite } from '@featurelog/log/testing';\nsuite();\n",
      // Readers decode with the shared decoder lib; a consumer may use it too.
      'libs/view-rows/src/index.ts': "import { good } from '@featurelog/domain';\nexport const decode = good;\n",
      'libs/serving/src/feed.ts': "import { decode } from '@featurelog/view-rows';\nexport const f = decode;\n",
      'libs/jobs/src/dead-letters.ts': "import { decode } from '@featurelog/view-rows';\nexport const d = decode;\n",
      'libs/materializer/src/index.ts': "import { decode } from '@featurelog/view-rows';\nexport const m = decode;\n",
      // An app reaches its own files by path, another app through its entry (@featurelog/app-<app>).
      'apps/a/src/index.ts': "export { aApp } from './a-app';\n",
      'apps/a/src/a-app.ts': "import { a } from './a.module';\nexport const aApp = a;\n",
      'apps/a/src/a.module.ts': 'export const a = 1;\n',
      'apps/c/src/main.ts': "import { aApp } from '@featurelog/app-a';\nexport const c = aApp;\n",
    });
    roots.push(root);
    const result = depcruise(root);
    assert.equal(result.status, 0, result.stdout + result.stderr);
  });
});
