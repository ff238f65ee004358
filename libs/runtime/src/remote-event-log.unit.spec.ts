import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { eventLogContract, eventLogFollowContract, FileEventLog } from '@featurelog/log';
import { registerEventLogBridge, RemoteEventLog, type DevServerRecord } from '@featurelog/runtime';

let directory: string;
let fileLog: FileEventLog;
let server: FastifyInstance;
let record: DevServerRecord;

before(async () => {
  directory = await mkdtemp(join(tmpdir(), 'featurelog-bridge-'));
  fileLog = await FileEventLog.open({ directory });
  server = Fastify({ bodyLimit: 64 * 1024 * 1024 });
  registerEventLogBridge(server, fileLog);
  const url = await server.listen({ port: 0, host: '127.0.0.1' });
  record = {
    pid: 4_194_304,
    project: 'bridge',
    startedAt: new Date().toISOString(),
    holds: { log: directory },
    urls: { dev: url, registry: url, materializer: url, serving: url },
  };
});

after(async () => {
  await server.close();
  await fileLog.close();
  await rm(directory, { recursive: true, force: true });
});

// The bridge carries everything but consumer groups, with the same contract as the log behind it.
eventLogContract('dev server log bridge over the file log', async () => new RemoteEventLog(record), {
  consumerGroups: false,
});
eventLogFollowContract('dev server log bridge over the file log', async () => new RemoteEventLog(record));

describe('RemoteEventLog', () => {
  it('refuses consumer groups, naming the dev server that runs the consumers', async () => {
    const log = new RemoteEventLog(record);
    await assert.rejects(
      log.subscribe(),
      (error: { code: string; message: string }) =>
        error.code === 'DEV_SERVER_RUNNING' && error.message.includes(`featurelog dev (pid ${record.pid})`),
    );
    await log.close();
  });

  it('passes the log’s own errors through with their code', async () => {
    const log = new RemoteEventLog(record);
    await assert.rejects(log.endOffsets('no.such.topic'), { code: 'LOG_TOPIC_NOT_FOUND' });
    await assert.rejects(log.append('no.such.topic', [{ key: null, value: null }]), { code: 'LOG_TOPIC_NOT_FOUND' });
    await log.close();
  });

  it('says the dev server does not answer when it is gone', async () => {
    const log = new RemoteEventLog({ ...record, urls: { ...record.urls, dev: 'http://127.0.0.1:1' } });
    await assert.rejects(log.describeTopic('x'), { code: 'LOG_UNAVAILABLE', retriable: true });
    await log.close();
  });
});
