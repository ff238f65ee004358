import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventLogContract, FileEventLog } from '@featurelog/log';

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
