import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateFeatureValue, type FeaturelogError, type TaggedDefinition } from '@featurelog/domain';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { csvValue, ingestFile, type IngestProgress, type RejectedRow } from '@featurelog/producer';
import { appliedProject, provisionView, readTopic, topicRows, type AppliedProject } from './producer.test-kit';
import { driverHourlyStatsView } from '@featurelog/domain/testing';

const T0 = Date.UTC(2025, 0, 1) * 1000;
const HOUR = 3_600_000_000;

function definitions(): TaggedDefinition[] {
  return [
    { kind: 'entity', definition: { name: 'driver', joinKeys: [{ name: 'driver_id', type: 'int64' }] } },
    driverHourlyStatsView(),
    {
      kind: 'data_source',
      definition: {
        name: 'driver_export',
        kind: 'file',
        path: 'exports/drivers.csv',
        format: 'csv',
        timestampField: 'ts',
        createdTimestampField: 'written',
        fieldMapping: { driver: 'driver_id', conversion: 'conv_rate' },
      },
    },
    {
      kind: 'feature_view',
      definition: {
        name: 'driver_export_stats',
        version: 1,
        entities: ['driver'],
        features: [
          { name: 'conv_rate', type: 'float64' },
          { name: 'tags', type: 'list<string>' },
        ],
        ttlSeconds: 0,
        source: 'driver_export',
        online: true,
        offline: true,
      },
    },
  ];
}

describe('ingestFile', () => {
  let project: AppliedProject;
  let dir: string;

  before(async () => {
    project = await appliedProject('embedded', definitions());
    await provisionView(project, 'driver_export_stats');
    dir = await mkdtemp(join(tmpdir(), 'ingest-'));
  });
  after(async () => {
    await project.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function csv(name: string, text: string): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, text);
    return path;
  }

  async function producedCount(view: string): Promise<number> {
    return (await readTopic(project.runtime.log, (await project.producer.target(view)).topic)).length;
  }

  it('refuses the whole file when any row is invalid, reporting every bad row with its row, line and fields', async () => {
    const path = await csv(
      'bad.csv',
      [
        'driver_id,event_timestamp,conv_rate,acc_rate,avg_daily_trips,note',
        `1,2025-01-01T00:00:00Z,0.5,0.25,10,ok`,
        `2,2025-01-01T01:00:00Z,high,0.25,10,"multi`,
        `line note"`,
        `,2025-01-01T02:00:00Z,0.5,0.25,10,no key`,
        `4,not a time,0.5,0.25,ten,bad ts and trips`,
        `5,2025-01-01T03:00:00Z,0.5`,
        `6,2025-01-01T04:00:00Z,0.5,0.25,10,ok`,
      ].join('\n'),
    );
    const rejected: RejectedRow[] = [];
    const summary = await ingestFile({
      producer: project.producer,
      view: 'driver_hourly_stats',
      path,
      onRejected: (r) => rejected.push(r),
    });
    assert.equal(summary.refused, true);
    assert.equal(summary.produced, 0);
    assert.equal(summary.rows, 6);
    assert.equal(summary.rejected, 4);
    assert.deepEqual(summary.ignoredColumns, ['note']);
    assert.deepEqual(
      rejected.map((r) => [r.row, r.line, r.problems.map((p) => p.field)]),
      [
        [2, 4, ['conv_rate']],
        [3, 5, ['driver_id']],
        [4, 6, ['event_timestamp', 'avg_daily_trips']],
        [5, 7, ['*']],
      ],
    );
    assert.match(rejected[0]!.problems[0]!.message, /conv_rate must be a number \(float64\), got string "high"/);
    assert.match(rejected[3]!.problems[0]!.message, /has 3 cell\(s\) where the header has 6 column\(s\)/);
    assert.equal(await producedCount('driver_hourly_stats'), 0);
  });

  it('with skipInvalid produces the good rows and rejects the bad ones, so every row is accounted for', async () => {
    const lines = ['driver_id,event_timestamp,created_timestamp,conv_rate,acc_rate,avg_daily_trips'];
    for (let i = 1; i <= 2_500; i++) {
      lines.push(i % 1_000 === 0 || i === 2_500 ? `${i},,,0.5,0.5,1` : `${i},${T0 + i},,${i / 10_000},0.5,${i}`);
    }
    const path = await csv('skip.csv', lines.join('\n'));
    const rejected: RejectedRow[] = [];
    const progress: IngestProgress[] = [];
    const summary = await ingestFile({
      producer: project.producer,
      view: 'driver_hourly_stats',
      path,
      skipInvalid: true,
      batchSize: 300,
      onRejected: (r) => rejected.push(r),
      onProgress: (p) => progress.push(p),
    });
    assert.deepEqual([summary.rows, summary.produced, summary.rejected], [2_500, 2_497, 3]);
    assert.deepEqual(
      rejected.map((r) => [r.row, r.problems[0]!.code]),
      [
        [1_000, 'INVALID_TIMESTAMP'],
        [2_000, 'INVALID_TIMESTAMP'],
        [2_500, 'INVALID_TIMESTAMP'],
      ],
    );
    assert.equal(progress.at(-1)!.fraction, 1);
    assert.equal(progress.at(-1)!.rows, 2_500);
    const rows = await topicRows(project, 'driver_hourly_stats');
    assert.equal(rows.length, 2_497);
    assert.deepEqual(rows[0], {
      driver_id: 1,
      event_timestamp: T0 + 1,
      created_timestamp: null,
      conv_rate: 0.0001,
      acc_rate: 0.5,
      avg_daily_trips: 1,
    });
  });

  it("maps a file data source's columns, timestamp fields and path (relative to the repo folder)", async () => {
    await rm(join(dir, 'exports'), { recursive: true, force: true });
    await import('node:fs/promises').then((fs) => fs.mkdir(join(dir, 'exports')));
    await csv(
      'exports/drivers.csv',
      'driver,ts,written,conversion,tags\n7,2025-01-01T00:00:00.000001,2025-01-01T00:00:01Z,0.75,"[""a"",""b""]"\n8,2025-01-01T00:00:00Z,,,\n',
    );
    const summary = await ingestFile({ producer: project.producer, view: 'driver_export_stats', baseDir: dir });
    assert.equal(summary.path, join(dir, 'exports/drivers.csv'));
    assert.deepEqual(
      summary.mapping.map((m) => `${m.column}->${m.field}`),
      ['driver->driver_id', 'ts->event_timestamp', 'written->created_timestamp', 'conversion->conv_rate', 'tags->tags'],
    );
    assert.deepEqual(await topicRows(project, 'driver_export_stats'), [
      { driver_id: 7, event_timestamp: T0 + 1, created_timestamp: T0 + 1_000_000, conv_rate: 0.75, tags: ['a', 'b'] },
      { driver_id: 8, event_timestamp: T0, created_timestamp: null, conv_rate: null, tags: null },
    ]);
  });

  it('names the missing columns and the columns the file has', async () => {
    const path = await csv('missing.csv', 'driver_id,ts,conv_rate\n1,2025-01-01,0.5\n');
    await assert.rejects(
      ingestFile({ producer: project.producer, view: 'driver_hourly_stats', path }),
      (e: FeaturelogError) =>
        e.code === 'INGEST_MISSING_COLUMNS' &&
        /no column event_timestamp, acc_rate, avg_daily_trips/.test(e.message) &&
        /its columns are: driver_id, ts, conv_rate/.test(e.message),
    );
  });

  it('reads Parquet row group by row group with typed values (int64 as bigint, TIMESTAMP micros exact)', async () => {
    const count = 1_000;
    const ids = Array.from({ length: count }, (_, i) => (i === 777 ? null : BigInt(10_000 + i)));
    const buffer = parquetWriteBuffer({
      rowGroupSize: 256,
      schema: [
        { name: 'root', num_children: 5 },
        { name: 'driver_id', type: 'INT64', repetition_type: 'OPTIONAL' },
        {
          name: 'event_timestamp',
          type: 'INT64',
          repetition_type: 'REQUIRED',
          logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MICROS' },
        },
        { name: 'conv_rate', type: 'DOUBLE', repetition_type: 'OPTIONAL' },
        { name: 'acc_rate', type: 'DOUBLE', repetition_type: 'OPTIONAL' },
        { name: 'avg_daily_trips', type: 'INT64', repetition_type: 'OPTIONAL' },
      ],
      columnData: [
        { name: 'driver_id', data: ids },
        { name: 'event_timestamp', data: ids.map((_, i) => BigInt(T0 + i * HOUR + 7)) },
        { name: 'conv_rate', data: ids.map((_, i) => i / count) },
        { name: 'acc_rate', data: ids.map(() => null) },
        { name: 'avg_daily_trips', data: ids.map((_, i) => BigInt(2 ** 53 - 1 - i)) },
      ],
    });
    const path = join(dir, 'stats.parquet');
    await writeFile(path, new Uint8Array(buffer));
    const before = await producedCount('driver_hourly_stats');

    const rejected: RejectedRow[] = [];
    const refused = await ingestFile({
      producer: project.producer,
      view: 'driver_hourly_stats',
      path,
      onRejected: (r) => rejected.push(r),
    });
    assert.deepEqual([refused.refused, refused.rows, refused.rejected], [true, count, 1]);
    assert.deepEqual(
      rejected.map((r) => [r.row, r.line, r.problems[0]!.code]),
      [[778, undefined, 'MISSING_JOIN_KEY']],
    );

    const summary = await ingestFile({
      producer: project.producer,
      view: 'driver_hourly_stats',
      path,
      skipInvalid: true,
      batchSize: 100,
    });
    assert.deepEqual([summary.rows, summary.produced, summary.rejected], [count, count - 1, 1]);
    assert.equal(await producedCount('driver_hourly_stats'), before + count - 1);
    const rows = (await topicRows(project, 'driver_hourly_stats')).filter((r) => (r.driver_id as number) >= 10_000);
    assert.deepEqual(rows[999 - 1], {
      driver_id: 10_999,
      event_timestamp: T0 + 999 * HOUR + 7,
      created_timestamp: null,
      conv_rate: 0.999,
      acc_rate: null,
      avg_daily_trips: 2 ** 53 - 1 - 999,
    });
  });
});

describe('csvValue', () => {
  it('keeps an int64 beyond 2^53 exact (a bigint validation refuses by its value), never the nearest double', () => {
    assert.equal(csvValue('int64', '9007199254740993'), 9007199254740993n);
    assert.equal(csvValue('int64', '-9007199254740993.0'), -9007199254740993n);
    assert.equal(csvValue('int64', '9007199254740991'), 9007199254740991);
    assert.deepEqual(csvValue('list<int64>', '[1, 9007199254740993]'), [1, 9007199254740993n]);
    assert.equal(csvValue('float64', 'constructor'), 'constructor');
    assert.match(
      validateFeatureValue('int64', csvValue('int64', '9007199254740993'), 'trips')!,
      /trips must be a safe integer .*got bigint 9007199254740993$/,
    );
  });

  it('reads each type from CSV text, and leaves text it cannot read for validation to name', () => {
    assert.equal(csvValue('int64', '12'), 12);
    assert.equal(csvValue('int64', '12.0'), 12);
    assert.equal(csvValue('int64', '1.5'), '1.5');
    assert.equal(csvValue('float64', '-1.5e3'), -1500);
    assert.ok(Number.isNaN(csvValue('float64', 'NaN')));
    assert.equal(csvValue('float32', '-inf'), -Infinity);
    assert.equal(csvValue('float64', 'abc'), 'abc');
    assert.equal(csvValue('bool', 'TRUE'), true);
    assert.equal(csvValue('bool', '0'), false);
    assert.equal(csvValue('bool', 'yes'), 'yes');
    assert.equal(csvValue('string', ' x '), ' x ');
    assert.equal(csvValue('string', ''), null);
    assert.deepEqual(csvValue('bytes', '0x00ff'), Uint8Array.from([0, 255]));
    assert.deepEqual(csvValue('bytes', 'AP8='), Uint8Array.from([0, 255]));
    assert.equal(csvValue('timestamp', '2025-01-01T00:00:00.000002Z'), T0 + 2);
    assert.equal(csvValue('timestamp', String(T0)), T0);
    assert.deepEqual(csvValue('list<int64>', '[1, 2]'), [1, 2]);
    assert.deepEqual(csvValue('list<timestamp>', '["2025-01-01", 5]'), [T0, 5]);
    assert.equal(csvValue('list<int64>', '1,2'), '1,2');
  });
});
