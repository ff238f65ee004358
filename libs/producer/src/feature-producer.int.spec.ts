import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { decodeEntityKey, type TaggedDefinition } from '@featurelog/domain';
import { readerSchema, RowDecoder, rowSchemaFor } from '@featurelog/avro';
import { partitionForKey } from '@featurelog/log';
import { ingestFile } from '@featurelog/producer';
import { appliedProject, readTopic, topicRows, type AppliedProject } from './producer.test-kit';
import { driverHourlyStatsView } from '@featurelog/domain/testing';

const SAMPLE = resolve(__dirname, '..', '..', '..', 'examples', 'drivers', 'data');
const JOIN_KEYS = [{ name: 'driver_id', type: 'int64' as const }];

function definitions(): TaggedDefinition[] {
  return [
    { kind: 'entity', definition: { name: 'driver', joinKeys: JOIN_KEYS } },
    driverHourlyStatsView({ partitions: 4 }),
  ];
}

describe('FeatureProducer on Kafka and the Confluent-compatible registry', () => {
  let project: AppliedProject;

  before(async () => {
    project = await appliedProject('kafka', definitions());
  });
  after(() => project?.close());

  it('ingests the example Parquet and CSV history: every row on the topic, in its entity’s partition, decodable', async () => {
    const parquet = await ingestFile({
      producer: project.producer,
      view: 'driver_hourly_stats',
      path: join(SAMPLE, 'driver_stats.parquet'),
    });
    const csv = await ingestFile({
      producer: project.producer,
      view: 'driver_hourly_stats',
      path: join(SAMPLE, 'driver_stats.csv'),
      batchSize: 97,
    });
    assert.deepEqual([parquet.produced, parquet.rejected, csv.produced, csv.rejected], [840, 0, 840, 0]);

    const records = await readTopic(project.runtime.log, parquet.topic);
    assert.equal(records.length, 1_680);
    for (const record of records) assert.equal(record.partition, partitionForKey(record.key!, 4));
    const rows = await topicRows(project, 'driver_hourly_stats');
    // The CSV holds the same history as the Parquet file (ISO text instead of typed timestamps).
    const key = (r: Record<string, unknown>) => JSON.stringify(r);
    const counts = new Map<string, number>();
    for (const row of rows) counts.set(key(row), (counts.get(key(row)) ?? 0) + 1);
    assert.equal(counts.size, 840);
    assert.ok([...counts.values()].every((n) => n === 2));
    assert.deepEqual(
      new Set(records.map((r) => decodeEntityKey(JOIN_KEYS, r.key!.toString()).driver_id)),
      new Set([1001, 1002, 1003, 1004, 1005]),
    );
  });

  it('keeps one entity’s rows in produce order within its partition', async () => {
    const rows = Array.from({ length: 3_000 }, (_, i) => ({
      driver_id: 9_000 + (i % 3),
      event_timestamp: 1_700_000_000_000_000 + i,
      avg_daily_trips: i,
    }));
    const stream = await project.producer.stream('driver_hourly_stats', { batchSize: 250, maxInFlight: 4 });
    assert.deepEqual(await stream.write(rows), []);
    assert.equal((await stream.close()).produced, 3_000);
    const target = await project.producer.target('driver_hourly_stats');
    const decoder = new RowDecoder(project.runtime.schemas);
    const reader = readerSchema(rowSchemaFor(target.view, [{ name: 'driver', joinKeys: JOIN_KEYS }], project.project));
    const trips = new Map<number, number[]>();
    // readTopic yields each partition in offset order: each driver's rows must come in the order produced.
    for (const record of await readTopic(project.runtime.log, target.topic)) {
      const row = await decoder.decode(record.value!, reader);
      if ((row.driver_id as number) < 9_000) continue;
      const list = trips.get(row.driver_id as number) ?? [];
      list.push(row.avg_daily_trips as number);
      trips.set(row.driver_id as number, list);
    }
    assert.deepEqual([...trips.keys()].sort(), [9_000, 9_001, 9_002]);
    for (const [driver, list] of trips) {
      assert.deepEqual(
        list,
        rows.filter((r) => r.driver_id === driver).map((r) => r.avg_daily_trips),
      );
    }
  });
});
