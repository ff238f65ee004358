import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFile, mkdtemp, open, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@featurelog/testing';
import { type EventLog, FileEventLog, type LogRecord } from '@featurelog/log';
import { eventLogContract, eventLogFollowContract } from '@featurelog/log/testing';

const directories: string[] = [];
const freshDirectory = async () => {
  const directory = await mkdtemp(join(tmpdir(), 'featurelog-log-'));
  directories.push(directory);
  return directory;
};
after(async () => {
  await Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true })));
});

for (const fsync of ['batch', 'always', 'never'] as const) {
  eventLogContract(`file log (fsync ${fsync})`, async () =>
    FileEventLog.open({ directory: await freshDirectory(), fsync }),
  );
}
eventLogFollowContract('file log', async () =>
  FileEventLog.open({ directory: await freshDirectory(), fsync: 'batch' }),
);

const text = (value: string) => Buffer.from(value, 'utf8');

async function readAll(log: EventLog, topic: string, partition = 0): Promise<LogRecord[]> {
  const records: LogRecord[] = [];
  for await (const batch of log.read(topic, partition, 0)) records.push(...batch);
  return records;
}

async function logWithRecords(directory: string, values: string[]): Promise<void> {
  const log = await FileEventLog.open({ directory });
  await log.ensureTopic({ name: 'demo.features.trips', partitions: 1, config: {} });
  await log.append(
    'demo.features.trips',
    values.map((value) => ({ key: text('driver:1'), value: text(value), headers: { h: value } })),
  );
  await log.close();
}

const segmentFile = (directory: string) => join(directory, 'topics', 'demo.features.trips', '0.log');

describe('file log: crash recovery', () => {
  it('keeps records, topics and group offsets across close and reopen', async () => {
    const directory = await freshDirectory();
    await logWithRecords(directory, ['1', '2', '3']);
    const log = await FileEventLog.open({ directory });
    try {
      const seen: LogRecord[] = [];
      const subscription = await log.subscribe({
        groupId: 'g',
        topics: ['demo.features.trips'],
        fromBeginning: true,
        eachBatch: async ({ records }) => void seen.push(...records),
      });
      await waitFor(() => seen.length === 3, { description: 'three records' });
      await subscription.stop();
      assert.deepEqual(await log.describeTopic('demo.features.trips'), {
        name: 'demo.features.trips',
        partitions: 1,
        config: {},
      });
    } finally {
      await log.close();
    }
    const reopened = await FileEventLog.open({ directory });
    try {
      await reopened.append('demo.features.trips', [{ key: null, value: text('4') }]);
      const seen: LogRecord[] = [];
      const subscription = await reopened.subscribe({
        groupId: 'g',
        topics: ['demo.features.trips'],
        fromBeginning: true,
        eachBatch: async ({ records }) => void seen.push(...records),
      });
      await waitFor(() => seen.length === 1, { description: 'the record appended after the committed offset' });
      await subscription.stop();
      assert.equal(seen[0]?.offset, 3);
      assert.deepEqual(reopened.recoveries, []);
    } finally {
      await reopened.close();
    }
  });

  it('truncates a record cut short in the middle, then appends after the last whole record', async () => {
    const directory = await freshDirectory();
    await logWithRecords(directory, ['first', 'second', 'third']);
    const { size } = await stat(segmentFile(directory));
    await truncate(segmentFile(directory), size - 5);

    const log = await FileEventLog.open({ directory });
    try {
      assert.equal(log.recoveries.length, 1);
      assert.equal(log.recoveries[0]?.reason, 'frame body cut short');
      assert.deepEqual(
        (await readAll(log, 'demo.features.trips')).map((r) => r.value?.toString()),
        ['first', 'second'],
      );
      assert.deepEqual(await log.append('demo.features.trips', [{ key: null, value: text('fourth') }]), [
        { partition: 0, offset: 2 },
      ]);
      const records = await readAll(log, 'demo.features.trips');
      assert.deepEqual(
        records.map((r) => `${r.offset}:${r.value?.toString()}`),
        ['0:first', '1:second', '2:fourth'],
      );
    } finally {
      await log.close();
    }
  });

  it('truncates garbage bytes and a record failing its CRC at the tail', async () => {
    const directory = await freshDirectory();
    await logWithRecords(directory, ['first', 'second']);
    await appendFile(segmentFile(directory), Buffer.from([0, 0, 0]));
    let log = await FileEventLog.open({ directory });
    assert.equal(log.recoveries[0]?.reason, 'frame header cut short');
    assert.equal(log.recoveries[0]?.droppedBytes, 3);
    assert.equal((await readAll(log, 'demo.features.trips')).length, 2);
    await log.close();

    // Flip one byte inside the last record's value: its CRC no longer matches.
    const { size } = await stat(segmentFile(directory));
    const handle = await open(segmentFile(directory), 'r+');
    await handle.write(Buffer.from('X'), 0, 1, size - 3);
    await handle.close();
    log = await FileEventLog.open({ directory });
    try {
      assert.equal(log.recoveries[0]?.reason, 'frame fails its CRC');
      assert.deepEqual(
        (await readAll(log, 'demo.features.trips')).map((r) => r.value?.toString()),
        ['first'],
      );
      assert.deepEqual((await log.endOffsets('demo.features.trips')).get(0), 1);
    } finally {
      await log.close();
    }
  });
});

describe('file log: directory lock', () => {
  it('refuses a directory held by another live process, naming it', async () => {
    const directory = await freshDirectory();
    const holder = spawn(
      process.execPath,
      [
        '-r',
        '@swc-node/register',
        '-e',
        // The adapter by file: path aliases are not resolved for code given with -e.
        `require(${JSON.stringify(join(__dirname, 'file-event-log.adapter.ts'))})` +
          `.FileEventLog.open({ directory: ${JSON.stringify(directory)} })` +
          // Open files do not keep a process alive; the interval does, until the test kills it.
          `.then(() => { console.log('ready'); setInterval(() => undefined, 1000); })`,
      ],
      { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      let output = '';
      holder.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      await waitFor(() => output.includes('ready'), { description: 'the other process to open the log' });
      await assert.rejects(FileEventLog.open({ directory }), (error: Error & { code?: string }) => {
        assert.equal(error.code, 'LOG_DIRECTORY_LOCKED');
        assert.match(error.message, new RegExp(`held by process ${holder.pid}`));
        return true;
      });
    } finally {
      if (holder.exitCode === null && holder.signalCode === null) {
        const exited = new Promise((resolve) => holder.once('exit', resolve));
        holder.kill('SIGKILL');
        await exited;
      }
    }
    // The holder died without releasing: its lock is stale and is taken over.
    const log = await FileEventLog.open({ directory });
    await log.close();
  });

  it('refuses a second open in the same process, and allows it after close', async () => {
    const directory = await freshDirectory();
    const log = await FileEventLog.open({ directory });
    await assert.rejects(FileEventLog.open({ directory }), { code: 'LOG_DIRECTORY_LOCKED' });
    await log.close();
    await (await FileEventLog.open({ directory })).close();
  });

  it('takes over a lock file left by a process that no longer exists', async () => {
    const directory = await freshDirectory();
    const gone = spawn(process.execPath, ['-e', '0']);
    await new Promise((resolve) => gone.once('exit', resolve));
    await writeFile(join(directory, 'LOCK'), `${gone.pid}\n`);
    await (await FileEventLog.open({ directory })).close();
  });
});

describe('file log: fsync modes', () => {
  /** Counts datasync calls on segment files while `work` runs. */
  async function countDatasyncs(directory: string, work: () => Promise<void>): Promise<number> {
    const probe = await open(join(directory, 'probe'), 'w');
    const prototype = Object.getPrototypeOf(probe) as { datasync: () => Promise<void> };
    await probe.close();
    const original = prototype.datasync;
    let calls = 0;
    prototype.datasync = function (this: unknown) {
      calls++;
      return original.call(this);
    };
    try {
      await work();
    } finally {
      prototype.datasync = original;
    }
    return calls;
  }

  const concurrentAppends = 40;
  for (const [fsync, check] of [
    ['always', (calls: number) => assert.equal(calls, concurrentAppends)],
    ['batch', (calls: number) => assert.ok(calls >= 1 && calls < concurrentAppends / 2, `${calls} fsyncs`)],
    ['never', (calls: number) => assert.equal(calls, 0)],
  ] as const) {
    it(`${fsync}: ${concurrentAppends} concurrent appends to one partition`, async () => {
      const directory = await freshDirectory();
      const log = await FileEventLog.open({ directory, fsync });
      try {
        await log.ensureTopic({ name: 't', partitions: 1, config: {} });
        const calls = await countDatasyncs(directory, async () => {
          const positions = await Promise.all(
            Array.from({ length: concurrentAppends }, (_, i) =>
              log.append('t', [{ key: text('k'), value: text(String(i)) }]),
            ),
          );
          assert.deepEqual(
            positions.map((p) => p[0]?.offset).sort((a, b) => a! - b!),
            Array.from({ length: concurrentAppends }, (_, i) => i),
          );
        });
        check(calls);
        assert.equal((await readAll(log, 't')).length, concurrentAppends);
      } finally {
        await log.close();
      }
    });
  }

  it('rejects an unknown fsync mode, naming the setting', async () => {
    await assert.rejects(
      FileEventLog.open({ directory: await freshDirectory(), fsync: 'sometimes' as never }),
      /fsync must be always, batch or never/,
    );
  });
});
