import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeEntityKey, type FeaturelogError, topicNames, valueSubject } from '@featurelog/domain';
import { readerSchema, RowDecoder, rowSchemaFor } from '@featurelog/avro';
import { partitionForKey, type LogRecord } from '@featurelog/log';
import { InvalidRowsError } from '@featurelog/producer';
import { appliedProject, type AppliedProject } from './producer.test-kit';

const T0 = Date.UTC(2025, 0, 2, 3, 4, 5) * 1000;

async function readAll(project: AppliedProject, topic: string): Promise<LogRecord[]> {
  const { log } = project.runtime;
  const out: LogRecord[] = [];
  for (const [partition, end] of await log.endOffsets(topic)) {
    if (end === 0) continue;
    for await (const records of log.read(topic, partition, 0, { untilOffset: end })) out.push(...records);
  }
  return out;
}

describe('FeatureProducer on the embedded log', () => {
  let project: AppliedProject;
  let topic: string;

  before(async () => {
    project = await appliedProject('embedded');
    topic = topicNames.features(project.project, { name: 'driver_stats', version: 1 });
  });
  after(() => project.close());

  it('produces rows in the wire format with the latest schema id, keyed by entity key, decodable to the same rows', async () => {
    const rows = [
      {
        driver_id: 1001,
        event_timestamp: T0,
        created_timestamp: T0 + 7,
        conv_rate: 0.5,
        acc_rate: 0.25,
        avg_daily_trips: 2 ** 53 - 1,
        rating: -5,
        active: true,
        city: 'Zürich|=%',
        avatar: new Uint8Array([0, 255, 7]),
        last_trip_at: T0 - 1,
        recent_fares: [1.5, 2.25],
      },
      { driver_id: 1002, event_timestamp: T0 + 1 },
    ];
    const result = await project.producer.produce('driver_stats', rows);
    assert.equal(result.produced, 2);
    assert.equal(result.topic, topic);
    const partitions = await project.runtime.log.partitionCount(topic);
    assert.deepEqual(
      result.positions.map((p) => p.partition),
      ['driver_id=1001', 'driver_id=1002'].map((key) => partitionForKey(Buffer.from(key), partitions)),
    );

    const records = (await readAll(project, topic)).sort((a, b) => a.key!.compare(b.key!));
    const latest = await project.runtime.schemas.latestVersion(valueSubject(topic));
    assert.ok(latest);
    const decoder = new RowDecoder(project.runtime.schemas);
    const { view } = await project.producer.target('driver_stats');
    const reader = readerSchema(
      rowSchemaFor(view, [{ name: 'driver', joinKeys: [{ name: 'driver_id', type: 'int64' }] }], project.project),
    );
    const decoded = [];
    for (const record of records) {
      assert.equal(record.value![0], 0, 'magic byte');
      assert.equal(record.value!.readUInt32BE(1), latest.id, 'schema id of the latest version');
      decoded.push(await decoder.decode(record.value!, reader));
    }
    assert.deepEqual(
      records.map((r) => decodeEntityKey([{ name: 'driver_id', type: 'int64' }], r.key!.toString())),
      [{ driver_id: 1001 }, { driver_id: 1002 }],
    );
    const first = decoded[0]!;
    assert.deepEqual({ ...first, avatar: [...(first.avatar as Uint8Array)] }, { ...rows[0], avatar: [0, 255, 7] });
    assert.deepEqual(decoded[1], {
      driver_id: 1002,
      event_timestamp: T0 + 1,
      created_timestamp: null,
      conv_rate: null,
      acc_rate: null,
      avg_daily_trips: null,
      rating: null,
      active: null,
      city: null,
      avatar: null,
      last_trip_at: null,
      recent_fares: null,
    });
  });

  it('accepts Date, ISO strings and safe bigints as conveniences, converting them to microseconds and numbers', async () => {
    const { row, problems } = (await project.producer.target('driver_stats')).check({
      driver_id: 7n,
      event_timestamp: new Date(T0 / 1000),
      created_timestamp: '2025-01-02T03:04:05.123456Z',
      last_trip_at: '2025-01-02 05:04:05.5+02:00',
      avg_daily_trips: 12n,
    });
    assert.deepEqual(problems, []);
    assert.deepEqual(row, {
      driver_id: 7,
      event_timestamp: T0,
      created_timestamp: T0 + 123_456,
      last_trip_at: T0 + 500_000,
      avg_daily_trips: 12,
    });
  });

  it('refuses the whole call naming every bad row and field, and appends nothing', async () => {
    const before = await readAll(project, topic);
    const error = await project.producer
      .produce('driver_stats', [
        { driver_id: 1, event_timestamp: T0 },
        { event_timestamp: T0, conv_rate: 'high' },
        { driver_id: 3, event_timestamp: 'yesterday', conv_rte: 0.1 },
      ])
      .then(
        () => assert.fail('expected INVALID_ROWS'),
        (e: unknown) => e,
      );
    assert.ok(error instanceof InvalidRowsError);
    assert.equal(error.code, 'INVALID_ROWS');
    assert.deepEqual(
      error.problems.map((p) => [p.row, p.field, p.code]),
      [
        [1, 'driver_id', 'MISSING_JOIN_KEY'],
        [1, 'conv_rate', 'INVALID_VALUE'],
        [2, 'event_timestamp', 'INVALID_TIMESTAMP'],
        [2, 'conv_rte', 'UNKNOWN_FIELD'],
      ],
    );
    assert.match(error.message, /2 of 3 row\(s\) for driver_stats are invalid/);
    assert.match(error.message, /row 1: conv_rate must be a number \(float64\), got string "high"/);
    assert.equal((await readAll(project, topic)).length, before.length);
  });

  it('names what is wrong with the view: unknown, or fed by an existing topic', async () => {
    await assert.rejects(
      project.producer.produce('nope', []),
      (e: FeaturelogError) => e.code === 'UNKNOWN_FEATURE_VIEW',
    );
    await assert.rejects(
      project.producer.produce('driver_live', [{ driver_id: 1, event_timestamp: T0 }]),
      (e: FeaturelogError) => e.code === 'VIEW_NOT_PRODUCIBLE' && /rides\.events/.test(e.message),
    );
  });

  it('streams rows in batches, returning the problems of bad rows and producing the good ones', async () => {
    const countBefore = (await readAll(project, topic)).length;
    const stream = await project.producer.stream('driver_stats', { batchSize: 7, maxInFlight: 2 });
    const rows = Array.from({ length: 100 }, (_, i) =>
      i % 25 === 3 ? { driver_id: i, event_timestamp: -1 } : { driver_id: i, event_timestamp: T0 + i, rating: i },
    );
    const problems = [...(await stream.write(rows.slice(0, 50))), ...(await stream.write(rows.slice(50)))];
    const summary = await stream.close();
    assert.deepEqual(
      problems.map((p) => [p.row, p.field]),
      [
        [3, 'event_timestamp'],
        [28, 'event_timestamp'],
        [3, 'event_timestamp'],
        [28, 'event_timestamp'],
      ],
    );
    assert.equal(summary.produced, 96);
    assert.equal((await readAll(project, topic)).length, countBefore + 96);
  });
});
