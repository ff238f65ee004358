import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordBatchReader, Table, tableFromIPC, tableToIPC, type RecordBatch } from 'apache-arrow';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { parseProjectConfig, type ProjectConfig } from '@featurelog/config';
import { SILENT_LOGGER, type ValueType } from '@featurelog/domain';
import { parquetRecordBatches } from '@featurelog/jobs';
import { arrowRecordBatch, arrowValues } from '@featurelog/offline-store';
import { pyarrowPython, TEST_DEFINITIONS } from '@featurelog/jobs/testing';
import { FeatureProducer } from '@featurelog/producer';
import type { RegistryFollower } from '@featurelog/registry';
import { ProjectRuntime, startApp, type RunningApp } from '@featurelog/runtime';
import { stackProjectYaml, uniqueName, waitFor } from '@featurelog/testing';
import { jobsApp } from './jobs-app';

const JOBS_KEY = 'jobs-key-0123456789abcdef';
const READ_KEY = 'read-key-0123456789abcdef';
const ARROW = 'application/vnd.apache.arrow.stream';
const PARQUET = 'application/vnd.apache.parquet';
const SECOND = 1_000_000;
const BASE = Date.UTC(2024, 4, 1) * 1000;
const ROW_GROUP = 50;
const FEATURES = ['driver_stats:conv_rate', 'driver_stats:trips', 'driver_stats:note', 'customer_profile:*'];

function stackConfig(project: string, dir: string): ProjectConfig {
  const text = stackProjectYaml(project, {
    more: [
      `offlineStore: { type: local, path: "${join(dir, 'offline')}" }`,
      'serving:',
      '  apiKeys:',
      `    - { name: trainer, key: "${JOBS_KEY}", scopes: [jobs] }`,
      `    - { name: model, key: "${READ_KEY}", scopes: [read] }`,
    ],
  });
  return parseProjectConfig(text, { file: 'featurelog.yaml', repoDir: dir, env: {} });
}

/** The entity rows of every request here: known and unknown drivers, duplicates, extra columns. */
const ENTITY_COLUMNS: Array<{ name: string; type: ValueType }> = [
  { name: 'driver_id', type: 'int64' },
  { name: 'customer_id', type: 'string' },
  { name: 'event_timestamp', type: 'timestamp' },
  { name: 'label', type: 'float64' },
  { name: 'tag', type: 'string' },
];
const ENTITY_ROWS = Array.from({ length: 230 }, (_, i) => [
  (i * 7) % 6,
  ['a', 'b', 'zz'][i % 3]!,
  BASE + ((i * 37) % 120) * 60 * SECOND + (i % 4) * 17_000,
  i + 0.25,
  i % 5 === 0 ? null : `t${i}`,
]);

/** Columns of a table as names, types and values in the domain representation. */
function contentOf(table: Table): { schema: string[]; columns: unknown[][] } {
  return {
    schema: table.schema.fields.map((field) => `${field.name}: ${String(field.type)}`),
    columns: table.schema.fields.map((_field, c) => arrowValues(table.getChildAt(c)!)),
  };
}

async function tableOfParquet(path: string): Promise<Table> {
  const batches: RecordBatch[] = [];
  for await (const batch of parquetRecordBatches(path)) batches.push(batch);
  return new Table(batches);
}

describe('training sets over HTTP: the jobs app on Kafka, the schema registry and Redis', () => {
  let dir: string;
  let runtime: ProjectRuntime;
  let follower: RegistryFollower;
  let app: RunningApp;
  let url: string;
  const auth = { authorization: `Bearer ${JOBS_KEY}` };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'featurelog-training-sets-'));
    const config = stackConfig(uniqueName('tsets').replace(/-/g, '_'), dir);
    runtime = await ProjectRuntime.open(config);
    for (const spec of runtime.topics.project) await runtime.log.ensureTopic(spec);
    const registry = runtime.registry();
    follower = registry.follower;
    await registry.applier.apply(TEST_DEFINITIONS);
    await follower.start(uniqueName('tsets-registry'));
    const producer = new FeatureProducer({
      log: runtime.log,
      schemas: runtime.schemas,
      project: config.project,
      definitions: follower,
    });
    const stats = [];
    for (let driver = 0; driver < 5; driver++) {
      for (let k = 0; k < 12; k++) {
        stats.push({
          driver_id: driver,
          event_timestamp: BASE + k * 600 * SECOND + driver,
          conv_rate: k % 4 === 1 ? null : driver + k / 100,
          trips: driver * 100 + k,
          note: `d${driver}k${k}`,
        });
      }
    }
    await producer.produce('driver_stats', stats);
    await producer.produce(
      'customer_profile',
      ['a', 'b'].flatMap((customer, c) =>
        Array.from({ length: 6 }, (_, k) => ({
          customer_id: customer,
          event_timestamp: BASE + k * 1200 * SECOND,
          spend: c * 10 + k,
          score: null,
          since: BASE - k * SECOND,
        })),
      ),
    );
    app = await startApp(jobsApp, config, {
      port: 0,
      logger: SILENT_LOGGER,
      exportOptions: { rowGroupSize: ROW_GROUP },
    });
    url = app.url;
  });

  after(async () => {
    await app?.close();
    await follower?.stop();
    await runtime?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const waitForJob = async (id: string, path = 'training-sets'): Promise<Record<string, unknown>> => {
    let state: Record<string, unknown> = {};
    await waitFor(
      async () => {
        const response = await fetch(`${url}/${path}/${id}`, { headers: auth });
        state = (await response.json()) as Record<string, unknown>;
        return response.status === 200 && ['finished', 'failed', 'cancelled'].includes(String(state.status));
      },
      { description: `job ${id} to end`, timeoutMs: 30_000 },
    );
    return state;
  };

  const post = async (query: string, type: string | undefined, body: Uint8Array | string | undefined, headers = auth) =>
    fetch(`${url}/training-sets${query}`, {
      method: 'POST',
      headers: { ...headers, ...(type === undefined ? {} : { 'content-type': type }) },
      ...(body === undefined ? {} : { body }),
    });

  const features = FEATURES.map((feature) => `features=${encodeURIComponent(feature)}`).join('&');
  const arrowEntities = () =>
    tableToIPC(
      new Table([
        arrowRecordBatch(
          ENTITY_COLUMNS.map((column, c) => ({ ...column, values: ENTITY_ROWS.map((row) => row[c]) })),
          ENTITY_ROWS.length,
        ),
      ]),
      'stream',
    );
  const parquetEntities = () =>
    new Uint8Array(
      parquetWriteBuffer({
        columnData: [
          { name: 'driver_id', data: ENTITY_ROWS.map((row) => BigInt(row[0] as number)), type: 'INT64' },
          { name: 'customer_id', data: ENTITY_ROWS.map((row) => row[1] as string), type: 'STRING' },
          {
            name: 'event_timestamp',
            data: ENTITY_ROWS.map((row) => new Date(Math.floor((row[2] as number) / 1000))),
            type: 'TIMESTAMP',
          },
          { name: 'label', data: ENTITY_ROWS.map((row) => row[3] as number), type: 'DOUBLE' },
          { name: 'tag', data: ENTITY_ROWS.map((row) => row[4] as string | null), type: 'STRING' },
        ],
      }),
    );

  it('an Arrow upload and a Parquet upload give the training set the CLI export writes, streamed in several record batches', async () => {
    // The reference: the request `featurelog export` submits, its entity file a Parquet file on the server.
    const entityFile = join(dir, 'entities.parquet');
    const reference = join(dir, 'reference.parquet');
    writeFileSync(entityFile, parquetEntities());
    const submitted = await fetch(`${url}/jobs/exports`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ entities: entityFile, output: reference, features: FEATURES }),
    });
    assert.equal(submitted.status, 202, await submitted.clone().text());
    const referenceJob = await waitForJob(((await submitted.json()) as { jobId: string }).jobId, 'jobs');
    assert.equal(referenceJob.status, 'finished', JSON.stringify(referenceJob));
    const expected = contentOf(await tableOfParquet(reference));
    assert.equal(expected.columns[0]!.length, ENTITY_ROWS.length);

    const arrowUpload = await post(`?${features}`, ARROW, arrowEntities());
    assert.equal(arrowUpload.status, 202, await arrowUpload.clone().text());
    const arrowJob = (await arrowUpload.json()) as { id: string; status: string };
    assert.equal(arrowJob.status, 'requested');
    assert.equal((await waitForJob(arrowJob.id)).status, 'finished');

    const result = await fetch(`${url}/training-sets/${arrowJob.id}/result`, { headers: { ...auth, accept: ARROW } });
    assert.equal(result.status, 200);
    assert.equal(result.headers.get('content-type'), ARROW);
    assert.equal(result.headers.get('x-featurelog-rows'), String(ENTITY_ROWS.length));
    const reader = await RecordBatchReader.from(result.body! as unknown as AsyncIterable<Uint8Array>);
    const batches: RecordBatch[] = [];
    for await (const batch of reader) batches.push(batch);
    assert.deepEqual(
      batches.map((batch) => batch.numRows),
      [50, 50, 50, 50, 30],
      'one record batch per row group of the export',
    );
    const arrowResult = new Table(batches);
    // Once the job ended, only its result is kept under the training-sets directory.
    await waitFor(() => readdirSync(join(dir, 'training-sets')).join() === `${arrowJob.id}.parquet`, {
      description: 'the uploaded entity file removed, the result kept',
    });
    assert.deepEqual(contentOf(arrowResult), expected);

    // pyarrow, an independent reader, sees the same schema and values in the Arrow stream and the Parquet export.
    const py = pyarrowPython();
    if (py !== undefined) {
      const stream = join(dir, 'result.arrows');
      writeFileSync(stream, tableToIPC(arrowResult, 'stream'));
      const check = spawnSync(
        py,
        [
          '-c',
          'import sys, pyarrow.parquet as pq, pyarrow.ipc as ipc\n' +
            'p = pq.read_table(sys.argv[1]); a = ipc.open_stream(open(sys.argv[2], "rb")).read_all()\n' +
            'assert a.schema.equals(p.schema, check_metadata=False), f"{a.schema} != {p.schema}"\n' +
            'assert a.equals(p)',
          reference,
          stream,
        ],
        { encoding: 'utf8' },
      );
      assert.equal(check.status, 0, check.stderr);
    }

    // A result that cannot be read to its end is cut off, never ended as if complete.
    const stored = join(dir, 'training-sets', `${arrowJob.id}.parquet`);
    const garbled = readFileSync(stored);
    garbled.fill(0xff, Math.floor(garbled.length / 2) - 300, Math.floor(garbled.length / 2) + 300);
    writeFileSync(stored, garbled);
    const cut = await fetch(`${url}/training-sets/${arrowJob.id}/result`, { headers: auth });
    await assert.rejects(async () => {
      const bytes = new Uint8Array(await cut.arrayBuffer());
      if (cut.status !== 200) throw new Error(`refused with ${cut.status}`);
      assert.fail(`the answer ended cleanly after ${bytes.length} bytes`);
    }, /terminated|refused|other side closed|aborted/);

    const parquetUpload = await post(`?${features}`, PARQUET, readFileSync(entityFile));
    assert.equal(parquetUpload.status, 202, await parquetUpload.clone().text());
    const parquetJob = (await parquetUpload.json()) as { id: string };
    assert.equal((await waitForJob(parquetJob.id)).status, 'finished');
    const file = await fetch(`${url}/training-sets/${parquetJob.id}/result`, { headers: { ...auth, accept: PARQUET } });
    assert.equal(file.status, 200);
    assert.equal(file.headers.get('content-type'), PARQUET);
    const downloaded = join(dir, 'downloaded.parquet');
    writeFileSync(downloaded, new Uint8Array(await file.arrayBuffer()));
    assert.deepEqual(contentOf(await tableOfParquet(downloaded)), expected);
  });

  it('takes small requests as JSON: RFC 3339 or epoch-ms timestamps, the same values as the export', async () => {
    const rows = ENTITY_ROWS.slice(0, 3);
    const response = await fetch(`${url}/training-sets`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({
        features: FEATURES,
        entities: rows.map((row, i) => ({
          driver_id: row[0],
          customer_id: row[1],
          event_timestamp:
            i === 0 ? (row[2] as number) / 1000 : new Date(Math.floor((row[2] as number) / 1000)).toISOString(),
          label: row[3],
          tag: row[4],
        })),
      }),
    });
    assert.equal(response.status, 202, await response.clone().text());
    const { id } = (await response.json()) as { id: string };
    assert.equal((await waitForJob(id)).status, 'finished');
    const result = await fetch(`${url}/training-sets/${id}/result`, { headers: auth });
    const got = contentOf(tableFromIPC(new Uint8Array(await result.arrayBuffer())));
    const reference = contentOf(await tableOfParquet(join(dir, 'reference.parquet')));
    // Entity times given as milliseconds: the reference's entity rows were built at the same whole milliseconds.
    const atMillis = (micros: unknown) => Math.floor((micros as number) / 1000) * 1000;
    assert.deepEqual(got.schema, reference.schema);
    assert.deepEqual(got.columns[2]!.map(atMillis), reference.columns[2]!.slice(0, 3).map(atMillis));
    for (const c of [0, 1, 3, 4, 5, 6, 7, 8, 9, 10]) {
      assert.deepEqual(got.columns[c], reference.columns[c]!.slice(0, 3), got.schema[c]);
    }
  });

  it('needs a key with the jobs scope on every route', async () => {
    const id = '00000000-0000-0000-0000-000000000000';
    for (const [method, path] of [
      ['POST', '/training-sets'],
      ['GET', `/training-sets/${id}`],
      ['GET', `/training-sets/${id}/result`],
    ] as const) {
      assert.equal((await fetch(`${url}${path}`, { method })).status, 401, `${method} ${path} without a key`);
      const wrong = await fetch(`${url}${path}`, {
        method,
        headers: { authorization: 'Bearer not-a-key-at-all-12345' },
      });
      assert.equal(wrong.status, 401, `${method} ${path} with a wrong key`);
      const read = await fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${READ_KEY}` } });
      assert.equal(read.status, 403, `${method} ${path} with a read key`);
    }
    assert.equal((await fetch(`${url}/docs/json`)).status, 401);
    const docs = await fetch(`${url}/docs/json`, { headers: auth });
    const paths = ((await docs.json()) as { paths: Record<string, unknown> }).paths;
    for (const path of ['/training-sets', '/training-sets/{id}', '/training-sets/{id}/result']) {
      assert.ok(path in paths, `${path} is documented`);
    }
    const submit = (paths['/training-sets'] as { post: { requestBody: { content: Record<string, unknown> } } }).post;
    assert.deepEqual(Object.keys(submit.requestBody.content).sort(), [
      'application/json',
      'application/vnd.apache.arrow.file',
      'application/vnd.apache.arrow.stream',
      'application/vnd.apache.parquet',
    ]);
  });

  it('answers every bad input with a 4xx naming what is wrong', async () => {
    const without = (name: string) =>
      tableToIPC(
        new Table([
          arrowRecordBatch(
            ENTITY_COLUMNS.filter((column) => column.name !== name).map((column) => ({
              ...column,
              values: ENTITY_ROWS.map((row) => row[ENTITY_COLUMNS.indexOf(column)]),
            })),
            ENTITY_ROWS.length,
          ),
        ]),
        'stream',
      );
    const cases: Array<[string, Response, number, string, RegExp]> = [
      ['no body', await post(`?${features}`, ARROW, undefined), 400, 'TRAINING_SET_BODY_MISSING', /entity rows/],
      ['no content type', await post(`?${features}`, undefined, 'x'), 415, '', /Content-Type|Media Type/i],
      ['CSV', await post(`?${features}`, 'text/csv', 'driver_id\n1\n'), 415, 'UNSUPPORTED_MEDIA_TYPE', /text\/csv/],
      [
        'corrupt Arrow',
        await post(`?${features}`, ARROW, 'PAR1 not arrow at all'),
        400,
        'ENTITY_FILE_INVALID',
        /Arrow/,
      ],
      ['corrupt Parquet', await post(`?${features}`, PARQUET, arrowEntities()), 400, 'ENTITY_FILE_INVALID', /Parquet/],
      [
        'no event_timestamp',
        await post(`?${features}`, ARROW, without('event_timestamp')),
        400,
        'ENTITY_TIMESTAMP_MISSING',
        /"event_timestamp"/,
      ],
      [
        'no join key',
        await post(`?${features}`, ARROW, without('customer_id')),
        400,
        'ENTITY_JOIN_KEY_MISSING',
        /customer_id/,
      ],
      [
        'unknown feature',
        await post('?features=driver_stats:nope', ARROW, arrowEntities()),
        404,
        'UNKNOWN_FEATURE',
        /nope/,
      ],
      ['unknown service', await post('?service=nope', ARROW, arrowEntities()), 404, 'UNKNOWN_FEATURE_SERVICE', /nope/],
      [
        'features and service',
        await post(`?${features}&service=driver_model`, ARROW, arrowEntities()),
        400,
        'INVALID_TRAINING_SET_REQUEST',
        /exactly one of features and service/,
      ],
      [
        'neither',
        await post('', ARROW, arrowEntities()),
        400,
        'INVALID_TRAINING_SET_REQUEST',
        /exactly one of features and service/,
      ],
      [
        'a bad flag',
        await post(`?${features}&asServed=yes`, ARROW, arrowEntities()),
        400,
        'INVALID_TRAINING_SET_REQUEST',
        /asServed must be true or false/,
      ],
      [
        'JSON without rows',
        await post('', 'application/json', JSON.stringify({ features: FEATURES, entities: [] })),
        400,
        'INVALID_TRAINING_SET_REQUEST',
        /entities must be a non-empty array/,
      ],
      [
        'unknown id',
        await fetch(`${url}/training-sets/00000000-0000-0000-0000-000000000000/result`, { headers: auth }),
        404,
        'TRAINING_SET_NOT_FOUND',
        /no training set/,
      ],
    ];
    for (const [name, response, status, code, message] of cases) {
      const body = (await response.json()) as { code?: string; message?: string };
      assert.equal(response.status, status, `${name}: ${JSON.stringify(body)}`);
      if (code !== '') assert.equal(body.code, code, name);
      assert.match(String(body.message), message, name);
      // The server's upload spool is no business of the caller's: the rows are "the uploaded entity rows".
      assert.doesNotMatch(String(body.message), /training-sets\/|\.entities\./, name);
    }

    // Only the job finds a bad value: the job fails, and its result answers with the job's own error.
    const badTime = tableToIPC(
      new Table([
        arrowRecordBatch(
          ENTITY_COLUMNS.map((column, c) => ({
            ...column,
            values: ENTITY_ROWS.slice(0, 2).map((row, r) => (c === 2 && r === 1 ? null : row[c])),
          })),
          2,
        ),
      ]),
      'stream',
    );
    const failing = await post(`?${features}`, ARROW, badTime);
    assert.equal(failing.status, 202);
    const { id } = (await failing.json()) as { id: string };
    const state = await waitForJob(id);
    assert.equal(state.status, 'failed');
    const result = await fetch(`${url}/training-sets/${id}/result`, { headers: auth });
    const error = (await result.json()) as { code: string; message: string };
    assert.equal(result.status, 400);
    assert.equal(error.code, 'ENTITY_TIMESTAMP_INVALID');
    assert.match(error.message, /row 2: "event_timestamp" is empty/);
    const notAcceptable = await fetch(`${url}/training-sets/${id}/result`, {
      headers: { ...auth, accept: 'text/csv' },
    });
    assert.equal(notAcceptable.status, 406);
  });
});
