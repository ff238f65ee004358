import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import {
  Field,
  Int16,
  Schema,
  TimestampMillisecond,
  TimestampNanosecond,
  Utf8,
  makeData,
  RecordBatch,
  Struct,
  Table,
  tableFromIPC,
  tableToIPC,
  vectorFromArray,
} from 'apache-arrow';
import type { ValueType } from '@featurelog/domain';
import { arrowRecordBatch, arrowValues } from '@featurelog/offline-store';
import {
  encodeRowGroup,
  jsonEntityRowsToArrow,
  openEntityFile,
  parquetRecordBatches,
  parseTrainingSetQuery,
  TrainingSets,
  TrainingSetWriter,
  type JobState,
} from '@featurelog/jobs';
import { pyarrowPython } from './jobs.test-kit';

const COLUMNS: Array<{ name: string; type: ValueType }> = [
  { name: 'driver_id', type: 'int64' },
  { name: 'event_timestamp', type: 'timestamp' },
  { name: 'i32', type: 'int32' },
  { name: 'f32', type: 'float32' },
  { name: 'f64', type: 'float64' },
  { name: 'flag', type: 'bool' },
  { name: 'text', type: 'string' },
  { name: 'raw', type: 'bytes' },
  { name: 'tags', type: 'list<string>' },
  { name: 'scores', type: 'list<float64>' },
  { name: 'times', type: 'list<timestamp>' },
];

/** Row i of the test training set, in the domain representation; every column null somewhere. */
function row(i: number): unknown[] {
  const none = i % 7 === 3;
  return [
    none ? null : 9_007_199_254_740_000 + i,
    none ? null : 1_714_564_800_000_001 + i * 1_000_003,
    none ? null : -2_147_483_648 + i,
    none ? null : 0.5 + i,
    none ? null : i / 3,
    none ? null : i % 2 === 0,
    none ? null : `t${i}é`,
    none ? null : Uint8Array.of(i & 0xff, 0, 255),
    none ? null : i % 5 === 0 ? [] : [`a${i}`, 'b'],
    none ? null : [i, 1.5],
    none ? null : [1_000_000 * i, 7],
  ];
}

describe('training sets as Arrow', () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'featurelog-arrow-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** A training set of `groups` row groups of `rows` rows, written as the export writes it. */
  function writeTrainingSet(name: string, groups: number, rows: number): { path: string; want: unknown[][] } {
    const path = join(dir, name);
    const writer = new TrainingSetWriter(path, COLUMNS);
    const want: unknown[][] = [];
    for (let g = 0; g < groups; g++) {
      const data = COLUMNS.map(() => ({ values: [] as unknown[] }));
      for (let i = 0; i < rows; i++) {
        const values = row(g * rows + i);
        want.push(values);
        values.forEach((value, c) => data[c]!.values.push(value));
      }
      writer.appendEncoded(encodeRowGroup(COLUMNS, data, rows));
    }
    writer.finish();
    return { path, want };
  }

  it('reads a Parquet training set as one record batch per row group, values and types as written', async () => {
    const { path, want } = writeTrainingSet('three.parquet', 3, 50);
    const batches = [];
    for await (const batch of parquetRecordBatches(path)) batches.push(batch);
    assert.deepEqual(
      batches.map((batch) => batch.numRows),
      [50, 50, 50],
    );
    assert.deepEqual(
      batches[0]!.schema.fields.map((field) => `${field.name}: ${String(field.type)}`),
      [
        'driver_id: Int64',
        'event_timestamp: Timestamp<MICROSECOND, UTC>',
        'i32: Int32',
        'f32: Float32',
        'f64: Float64',
        'flag: Bool',
        'text: Utf8',
        'raw: Binary',
        'tags: List<Utf8>',
        'scores: List<Float64>',
        'times: List<Timestamp<MICROSECOND, UTC>>',
      ],
    );
    const table = new Table(batches);
    const got = COLUMNS.map((_column, c) => arrowValues(table.getChildAt(c)!));
    for (let r = 0; r < want.length; r++) {
      assert.deepEqual(
        COLUMNS.map((_column, c) => got[c]![r]),
        want[r]!.map((value, c) =>
          COLUMNS[c]!.type === 'float32' && typeof value === 'number' ? Math.fround(value) : value,
        ),
        `row ${r}`,
      );
    }
  });

  it('writes 64-bit values given as numbers exactly, negative ones and ±(2^53 - 1) included', () => {
    const values = [0, -1, 1, -4_294_967_297, 4_294_967_296, 2 ** 53 - 1, -(2 ** 53 - 1), null, 123n];
    for (const type of ['int64', 'timestamp'] as const) {
      const batch = arrowRecordBatch([{ name: 'x', type, values }], values.length);
      assert.deepEqual(arrowValues(batch.getChildAt(0)!), [...values.slice(0, -1), 123], type);
    }
  });

  it('streams the same table as pyarrow reads from the Parquet file (schema and values)', async (t) => {
    const py = pyarrowPython();
    if (py === undefined) return t.skip('no python with pyarrow (FEATURELOG_PYTHON or the project venv)');
    const { path } = writeTrainingSet('py.parquet', 2, 20);
    const sets = new TrainingSets({
      project: 'p',
      directory: dir,
      definitions: () => Promise.reject(new Error('unused')),
      jobs: { submit: () => Promise.reject(new Error('unused')), get: () => undefined },
    });
    const stream = join(dir, 'py.arrows');
    writeFileSync(stream, await buffer(sets.arrowStream(path)));
    const check = spawnSync(
      py,
      [
        '-c',
        [
          'import sys, pyarrow.parquet as pq, pyarrow.ipc as ipc',
          'p = pq.read_table(sys.argv[1])',
          'reader = ipc.open_stream(open(sys.argv[2], "rb"))',
          'a = reader.read_all()',
          'assert a.schema.equals(p.schema, check_metadata=False), f"{a.schema} != {p.schema}"',
          'assert a.equals(p), "values differ"',
          'print(len(a.to_batches()), a.num_rows)',
        ].join('\n'),
        path,
        stream,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(check.status, 0, check.stderr);
    assert.equal(check.stdout.trim(), '2 40');
  });

  it('a result that fails to read midway is a stream that errors, never one that ends early', async () => {
    const { path } = writeTrainingSet('broken.parquet', 3, 50);
    const bytes = readFileSync(path);
    // Garbles the middle of the file (the second row group's pages), leaving the footer readable.
    bytes.fill(0xff, Math.floor(bytes.length / 2) - 200, Math.floor(bytes.length / 2) + 200);
    writeFileSync(path, bytes);
    const sets = new TrainingSets({
      project: 'p',
      directory: dir,
      definitions: () => Promise.reject(new Error('unused')),
      jobs: { submit: () => Promise.reject(new Error('unused')), get: () => undefined },
    });
    await assert.rejects(buffer(sets.arrowStream(path)));
  });

  it('an empty training set is a stream with its schema and no rows', async () => {
    const { path } = writeTrainingSet('empty.parquet', 0, 0);
    const sets = new TrainingSets({
      project: 'p',
      directory: dir,
      definitions: () => Promise.reject(new Error('unused')),
      jobs: { submit: () => Promise.reject(new Error('unused')), get: () => undefined },
    });
    const table = tableFromIPC(await buffer(sets.arrowStream(path)));
    assert.equal(table.numRows, 0);
    assert.deepEqual(
      table.schema.fields.map((field) => field.name),
      COLUMNS.map((column) => column.name),
    );
  });

  it('reads an Arrow entity file a batch at a time: naive and zoned timestamps of any unit as µs UTC, extra columns kept', async () => {
    const naive = makeData({
      type: new TimestampMillisecond(),
      length: 2,
      nullCount: 1,
      nullBitmap: Uint8Array.of(0b01),
      data: BigInt64Array.of(1_714_564_800_000n, 0n),
    });
    const nanos = makeData({
      type: new TimestampNanosecond('Europe/Paris'),
      length: 2,
      nullCount: 0,
      data: BigInt64Array.of(1_714_564_800_000_001_999n, -1n),
    });
    const schema = new Schema([
      new Field('event_timestamp', naive.type, true),
      new Field('other_time', nanos.type, true),
      new Field('driver_id', new Int16(), true),
      new Field('label', new Utf8(), true),
    ]);
    const batch = (ids: number[]) =>
      new RecordBatch(
        schema,
        makeData({
          type: new Struct(schema.fields),
          length: 2,
          nullCount: 0,
          children: [
            naive,
            nanos,
            vectorFromArray(ids, new Int16()).data[0]!,
            vectorFromArray(['x', null], new Utf8()).data[0]!,
          ],
        }),
      );
    const path = join(dir, 'entities.arrow');
    writeFileSync(path, tableToIPC(new Table([batch([1, 2]), batch([3, 4])]), 'stream'));
    const file = await openEntityFile(path);
    assert.equal(file.format, 'arrow');
    assert.deepEqual(file.columns, [
      { name: 'event_timestamp', type: 'timestamp' },
      { name: 'other_time', type: 'timestamp' },
      { name: 'driver_id', type: 'int32' },
      { name: 'label', type: 'string' },
    ]);
    const batches = [];
    for await (const columns of file.columnBatches!()) batches.push(columns.map((column) => Array.from(column)));
    assert.deepEqual(batches, [
      [
        [1_714_564_800_000_000, null],
        [1_714_564_800_000_001, -1],
        [1, 2],
        ['x', null],
      ],
      [
        [1_714_564_800_000_000, null],
        [1_714_564_800_000_001, -1],
        [3, 4],
        ['x', null],
      ],
    ]);
  });

  it('refuses an empty, corrupt or truncated Arrow entity file naming it', async () => {
    const good = tableToIPC(
      new Table([arrowRecordBatch([{ name: 'event_timestamp', type: 'timestamp', values: [1, 2] }], 2)]),
      'stream',
    );
    for (const [name, bytes, pattern] of [
      ['empty.arrow', new Uint8Array(), /has no schema message/],
      ['text.arrow', Buffer.from('driver_id,event_timestamp\n1,2\n'), /not a readable Arrow IPC/],
      ['cut.arrow', good.subarray(0, 150), /not a readable Arrow IPC|cannot be decoded/],
    ] as const) {
      const path = join(dir, name);
      writeFileSync(path, bytes);
      await assert.rejects(
        async () => {
          const file = await openEntityFile(path);
          for await (const columns of file.columnBatches!()) void columns;
        },
        (error: { code?: string; message?: string }) => {
          assert.equal(error.code, 'ENTITY_FILE_INVALID', name);
          assert.match(error.message!, pattern, name);
          assert.ok(error.message!.includes(path));
          return true;
        },
      );
    }
  });

  it('turns JSON entity rows into an Arrow stream: RFC 3339 or epoch-ms timestamps, types from the values', async () => {
    const bytes = jsonEntityRowsToArrow([
      { driver_id: 1001, event_timestamp: '2024-05-01T12:00:00', label: 1.5, tag: 'a', ok: true },
      { driver_id: 1002, event_timestamp: 1_714_564_800_123, label: 2, extra: { nested: [1] } },
    ]);
    const table = tableFromIPC(bytes);
    assert.deepEqual(
      table.schema.fields.map((field) => `${field.name}: ${String(field.type)}`),
      [
        'driver_id: Int64',
        'event_timestamp: Timestamp<MICROSECOND, UTC>',
        'label: Float64',
        'tag: Utf8',
        'ok: Bool',
        'extra: Utf8',
      ],
    );
    assert.deepEqual(arrowValues(table.getChild('event_timestamp')!), [1_714_564_800_000_000, 1_714_564_800_123_000]);
    assert.deepEqual(arrowValues(table.getChild('extra')!), [null, '{"nested":[1]}']);
    assert.throws(
      () => jsonEntityRowsToArrow([{ driver_id: 1, event_timestamp: 'yesterday' }]),
      /entities\[0\]\.event_timestamp: "yesterday" is not a timestamp/,
    );
    assert.throws(
      () =>
        jsonEntityRowsToArrow([
          { driver_id: 1, event_timestamp: 1 },
          { driver_id: 'x', event_timestamp: 1 },
        ]),
      /column "driver_id" mixes values of types number and string/,
    );
  });

  it('reads the options of a binary upload from the query, refusing what is malformed', () => {
    assert.deepEqual(parseTrainingSetQuery({ features: ['a:x', 'b:y,b:z'], fullFeatureNames: 'true' }), {
      features: ['a:x', 'b:y', 'b:z'],
      fullFeatureNames: true,
    });
    assert.throws(() => parseTrainingSetQuery({ asServed: 'yes' }), /asServed must be true or false/);
    assert.throws(() => parseTrainingSetQuery({ servcie: 'x' }), /unknown query parameter\(s\) servcie/);
    assert.throws(() => parseTrainingSetQuery({ service: ['a', 'b'] }), /service is given 2 times/);
  });

  it('refuses an upload larger than the limit, and an empty one, keeping no file', async () => {
    const upload = join(dir, 'uploads');
    const sets = new TrainingSets({
      project: 'p',
      directory: upload,
      uploadLimit: 10,
      definitions: () => Promise.reject(new Error('not reached')),
      jobs: { submit: () => Promise.reject(new Error('not reached')), get: () => undefined },
    });
    await assert.rejects(
      sets.submitUpload(Readable.from([Buffer.alloc(6), Buffer.alloc(6)]), 'arrow', { service: 's' }),
      { code: 'PAYLOAD_TOO_LARGE' },
    );
    await assert.rejects(sets.submitUpload(Readable.from([]), 'arrow', { service: 's' }), {
      code: 'TRAINING_SET_BODY_MISSING',
    });
    await assert.rejects(sets.submitUpload(Readable.from([Buffer.alloc(1)]), 'arrow', {}), {
      code: 'INVALID_TRAINING_SET_REQUEST',
      message: /exactly one of features and service/,
    });
    assert.deepEqual(readdirSync(upload), []);
  });

  it('answers a result by the job state: 409 while unfinished, the job’s own error once failed, 404 for others', async () => {
    const directory = join(dir, 'states');
    const jobs = new Map<string, JobState>();
    const sets = new TrainingSets({
      project: 'p',
      directory,
      definitions: () => Promise.reject(new Error('unused')),
      jobs: { submit: () => Promise.reject(new Error('unused')), get: (id) => jobs.get(id) },
    });
    const request = {
      entities: join(directory, 'x.entities.arrow'),
      output: join(directory, 'x.parquet'),
      service: 's',
    };
    const job = (status: JobState['status'], more: Partial<JobState> = {}): JobState => ({
      jobId: 'x',
      spec: { kind: 'export', request },
      status,
      requestedAt: 1,
      offset: 0,
      ...more,
    });
    jobs.set('x', job('running', { progress: { phase: 'joining', done: 3, total: 9, at: 1 } }));
    await assert.rejects(sets.resultFile('x'), { code: 'JOB_NOT_FINISHED', message: /is running \(joining: 3\/9\)/ });
    jobs.set('x', job('requested'));
    await assert.rejects(sets.resultFile('x'), { code: 'JOB_NOT_FINISHED', retriable: true });
    jobs.set('x', job('failed', { error: { code: 'UNKNOWN_FEATURE', message: 'no such feature', retriable: false } }));
    await assert.rejects(sets.resultFile('x'), { code: 'UNKNOWN_FEATURE', message: /failed: no such feature/ });
    jobs.set('x', job('cancelled'));
    await assert.rejects(sets.resultFile('x'), { code: 'JOB_CANCELLED' });
    jobs.set('x', job('finished', { result: { rows: 3 } }));
    await assert.rejects(sets.resultFile('x'), { code: 'TRAINING_SET_RESULT_NOT_FOUND' });
    jobs.set('y', { ...job('finished'), jobId: 'y' });
    assert.throws(() => sets.state('y'), { code: 'TRAINING_SET_NOT_FOUND', message: /not a training set/ });
    assert.throws(() => sets.state('z'), { code: 'TRAINING_SET_NOT_FOUND' });
  });
});
