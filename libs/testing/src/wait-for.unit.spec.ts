import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { waitForProcessGone } from './wait-for';

describe('waitForProcessGone', () => {
  it('resolves once a killed process is gone', async () => {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1_000)'], { stdio: 'ignore' });
    await once(child, 'spawn');
    child.kill('SIGKILL');
    assert.equal(
      await waitForProcessGone(child.pid!, { description: 'the child to be gone', timeoutMs: 10_000 }),
      true,
    );
  });

  it('never reports a live process gone: it fails at the deadline, naming what it waited for', async () => {
    await assert.rejects(waitForProcessGone(process.pid, { description: 'this process to be gone', timeoutMs: 50 }), {
      message: /timed out after 50 ms waiting for this process to be gone/,
    });
  });
});
