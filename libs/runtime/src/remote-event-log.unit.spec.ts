import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { FileEventLog } from '@featurelog/log';
import { eventLogContract, eventLogFollowContract } from '@featurelog/log/testing';
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

  it('answers a malformed append body 400 naming what is wrong, not retriable, and appends nothing', async () => {
    const topic = 'bridge.malformed';
    await fileLog.ensureTopic({ name: topic, partitions: 1, config: {} });
    const cases: Array<[unknown, RegExp]> = [
      [{}, /the body must be \{ "records": \[/],
      [{ records: 'abc' }, /the body must be \{ "records": \[/],
      [[1, 2], /the body must be/],
      [{ records: [null] }, /records\[0\] must be an object/],
      [{ records: [{ value: null }] }, /records\[0\] needs both key and value/],
      [{ records: [{ key: null, value: 42 }] }, /records\[0\]\.value must be base64 text or null/],
      [
        {
          records: [
            { key: null, value: null },
            { key: '%%%', value: null },
          ],
        },
        /records\[1\]\.key must be base64/,
      ],
      [{ records: [{ key: null, value: null, partition: -1 }] }, /records\[0\]\.partition must be a non-negative/],
      [{ records: [{ key: null, value: null, headers: { h: 7 } }] }, /records\[0\]\.headers\.h must be base64/],
    ];
    for (const [body, message] of cases) {
      const response = await server.inject({
        method: 'POST',
        url: `/log/topics/${topic}/append`,
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify(body),
      });
      const answer = response.json() as { code: string; message: string; retriable: boolean };
      assert.equal(response.statusCode, 400, `${JSON.stringify(body)}: ${response.body}`);
      assert.equal(answer.code, 'LOG_BRIDGE_REQUEST_INVALID');
      assert.equal(answer.retriable, false);
      assert.match(answer.message, message);
    }
    assert.deepEqual([...(await fileLog.endOffsets(topic)).values()], [0], 'nothing was appended');
    const spec = await server.inject({
      method: 'POST',
      url: '/log/ensure-topic',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ name: 'bridge.bad', partitions: 0, config: {} }),
    });
    assert.equal(spec.statusCode, 400);
    assert.match((spec.json() as { message: string }).message, /ensure-topic: partitions must be a positive integer/);
  });
});
