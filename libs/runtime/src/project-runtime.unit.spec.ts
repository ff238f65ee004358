import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { ProjectConfig } from '@featurelog/config';
import { FileEventLog } from '@featurelog/log';
import {
  ProjectRuntime,
  RemoteEventLog,
  removeDevServerRecord,
  writeDevServerRecord,
  type DevServerRecord,
} from '@featurelog/runtime';

const NODE = resolve(__dirname, '..', '..', '..', 'node_modules', '.bin', 'node');

function embeddedConfig(repoDir: string): ProjectConfig {
  return {
    project: 'leases',
    repoDir,
    log: { type: 'embedded', path: join(repoDir, '.featurelog', 'log') },
    schemaRegistry: { type: 'embedded', path: join(repoDir, '.featurelog', 'schemas') },
    onlineStore: { type: 'embedded', path: join(repoDir, '.featurelog', 'online') },
    offlineStore: { type: 'local', path: join(repoDir, '.featurelog', 'offline') },
  };
}

/** Another process holding the embedded log, as a running featurelog process would. */
async function holdLogInAnotherProcess(directory: string): Promise<ChildProcess> {
  await mkdir(directory, { recursive: true });
  const child = spawn(NODE, ['-r', '@swc-node/register', join(__dirname, 'log-holder.fixture.ts'), directory], {
    cwd: resolve(__dirname, '..', '..', '..'),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ready = once(child.stdout!, 'data') as Promise<[Buffer]>;
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`the log holder exited (${String(code)}) before holding the log`);
  });
  const [chunk] = await Promise.race([ready, exited]);
  assert.match(chunk.toString(), /holding/);
  return child;
}

describe('ProjectRuntime', () => {
  let repoDir: string;
  before(async () => {
    repoDir = await mkdtemp(join(tmpdir(), 'featurelog-runtime-'));
  });
  after(() => rm(repoDir, { recursive: true, force: true }));

  it('is one set of ports per process: opens of the same config are leases, the last close releases them', async () => {
    const config = embeddedConfig(join(repoDir, 'leases'));
    const first = await ProjectRuntime.open(config);
    const second = await ProjectRuntime.open(config);
    assert.equal(first.log, second.log);
    assert.equal(await first.onlineStore(), await second.onlineStore());

    await first.close();
    await first.close(); // a lease ends once
    await second.log.ensureTopic({ name: 'leases.t', partitions: 1, config: {} });
    assert.deepEqual([...(await second.log.endOffsets('leases.t'))], [[0, 0]]);
    await second.close();

    // Released: the lock and the online store can be taken again.
    const again = await ProjectRuntime.open(config);
    assert.notEqual(again.log, first.log);
    await again.onlineStore();
    await again.close();
  });

  it('closes the ports for every lease when their owner says so', async () => {
    const config = embeddedConfig(join(repoDir, 'owner'));
    const owner = await ProjectRuntime.open(config);
    const app = await ProjectRuntime.open(config);
    await app.onlineStore();
    await owner.closeForEveryLease();
    await app.close(); // a lease left behind ends harmlessly
    const next = await ProjectRuntime.open(config);
    assert.notEqual(next.log, owner.log);
    await next.onlineStore();
    await next.close();
  });

  describe('when another process holds the embedded log', () => {
    let config: ProjectConfig;
    let holder: ChildProcess;
    const record = (): DevServerRecord => ({
      pid: holder.pid!,
      project: config.project,
      startedAt: new Date().toISOString(),
      holds: {
        log: config.log.type === 'embedded' ? config.log.path : '',
        onlineStore: join(repoDir, 'held', '.featurelog', 'online'),
      },
      urls: {
        dev: 'http://127.0.0.1:6569',
        registry: 'http://127.0.0.1:6570',
        materializer: 'http://127.0.0.1:6571',
        serving: 'http://127.0.0.1:6574',
      },
    });
    before(async () => {
      config = embeddedConfig(join(repoDir, 'held'));
      holder = await holdLogInAnotherProcess(join(repoDir, 'held', '.featurelog', 'log'));
    });
    after(async () => {
      holder.kill('SIGKILL');
      await once(holder, 'exit');
    });

    it('refuses, naming the process, its command and what to do', async () => {
      await assert.rejects(ProjectRuntime.open(config), (error: { code: string; message: string }) => {
        assert.equal(error.code, 'LOG_DIRECTORY_LOCKED');
        assert.match(error.message, new RegExp(`held by process ${holder.pid} \\(.*node`));
        assert.match(error.message, /featurelog dev/);
        return true;
      });
    });

    it('when the holder is featurelog dev: says so and where its APIs are', async () => {
      await writeDevServerRecord(config.repoDir, record());
      try {
        await assert.rejects(
          ProjectRuntime.open(config, { embeddedAccess: 'direct' }),
          (error: { code: string; message: string }) =>
            error.code === 'LOG_DIRECTORY_LOCKED' &&
            error.message.startsWith(`featurelog dev (pid ${holder.pid}) is running on this repo`) &&
            error.message.includes('http://127.0.0.1:6569/health') &&
            error.message.includes(`kill ${holder.pid}`),
        );
      } finally {
        await removeDevServerRecord(config.repoDir, holder.pid);
      }
    });

    it('goes through the dev server’s log bridge, and refuses its online store pointing at serving', async () => {
      await writeDevServerRecord(config.repoDir, record());
      const runtime = await ProjectRuntime.open(config);
      try {
        assert.ok(runtime.log instanceof RemoteEventLog);
        assert.equal(runtime.devServer?.pid, holder.pid);
        await assert.rejects(
          runtime.onlineStore(),
          (error: { code: string; message: string }) =>
            error.code === 'DEV_SERVER_RUNNING' && error.message.includes('http://127.0.0.1:6574'),
        );
      } finally {
        await runtime.close();
        await removeDevServerRecord(config.repoDir, holder.pid);
      }
    });

    it('ignores a dev.json whose process is gone', async () => {
      const other = embeddedConfig(join(repoDir, 'stale'));
      await mkdir(join(other.repoDir, '.featurelog'), { recursive: true });
      await writeDevServerRecord(other.repoDir, {
        ...record(),
        pid: 4_194_304,
        holds: { log: join(other.repoDir, '.featurelog', 'log') },
      });
      const runtime = await ProjectRuntime.open(other);
      assert.ok(runtime.log instanceof FileEventLog);
      await runtime.close();
    });
  });
});
