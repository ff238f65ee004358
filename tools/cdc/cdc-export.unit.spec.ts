import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeEntityKey, pointInTimeLookup, type FeatureValue, type PitCandidate } from '@featurelog/domain';
import { RowDecoder } from '@featurelog/avro';
import type { LogRecord } from '@featurelog/log';
import { exportTrainingSet } from '@featurelog/jobs';
import { readParquet } from '@featurelog/jobs/testing';
import { resolvedView, ViewRowDecoder } from '@featurelog/view-rows';
import {
  customer,
  customersSource,
  customerView,
  CUSTOMERS_TOPIC,
  debeziumJsonRecord,
  randomCustomerRow,
  type CustomerRow,
  type DebeziumOp,
} from '@featurelog/view-rows/testing';
import { seededRandom } from '@featurelog/testing';
import { compactIntoSegment, DEFINITIONS, openCdcHistory, PROJECT, type CdcHistory } from './cdc-history.test-kit';

/**
 * Point in time over a Debezium source, through the export (segments and the log tail): changes of one
 * source row that share their commit time (and have no created timestamp) but sit on different
 * partitions are ordered by their source position (the LSN), not by their offsets; a delete that wins
 * reads as nulls. The brute-force oracle (pointInTimeLookup) over the decoded changes agrees.
 */
const T = 1_740_000_000_000; // ms

interface Change {
  id: number;
  op: DebeziumOp;
  plan: string;
  ms: number;
  lsn: number;
  partition: number;
}

/**
 * Customer 1: two updates in the same millisecond, the later one (LSN 200) on partition 1 at a smaller
 * offset than the earlier one (LSN 100) on partition 0. Customer 2: an insert, then in one millisecond
 * an update and its delete, the delete (greater LSN) on the partition where it has the smaller offset.
 * Customer 3 fills partition 0 so that offsets differ.
 */
const CHANGES: Change[] = [
  { id: 3, op: 'c', plan: 'filler-a', ms: T, lsn: 10, partition: 0 },
  { id: 3, op: 'u', plan: 'filler-b', ms: T + 1, lsn: 20, partition: 0 },
  { id: 3, op: 'u', plan: 'filler-c', ms: T + 2, lsn: 30, partition: 0 },
  { id: 1, op: 'c', plan: 'first', ms: T + 5, lsn: 50, partition: 0 },
  { id: 1, op: 'u', plan: 'later', ms: T + 10, lsn: 200, partition: 1 },
  { id: 1, op: 'u', plan: 'earlier', ms: T + 10, lsn: 100, partition: 0 },
  { id: 2, op: 'c', plan: 'kept', ms: T + 5, lsn: 60, partition: 1 },
  { id: 2, op: 'd', plan: 'kept', ms: T + 20, lsn: 400, partition: 1 },
  { id: 2, op: 'u', plan: 'undeleted?', ms: T + 20, lsn: 300, partition: 0 },
];

describe('export of a view over a Debezium source: source positions break ties, deletes read as nulls', () => {
  let history: CdcHistory;
  const records: LogRecord[] = [];

  before(async () => {
    history = await openCdcHistory('cdc-export', 2);
    const { log } = history;
    const random = seededRandom(7);
    for (const change of CHANGES) {
      const row: CustomerRow = { ...randomCustomerRow(random, change.id), plan: change.plan, updatedMs: change.ms };
      await log.append(CUSTOMERS_TOPIC, [
        {
          key: Buffer.from(JSON.stringify({ id: change.id })),
          value: debeziumJsonRecord(change.op, row, change.lsn),
          partition: change.partition,
        },
      ]);
    }
    for (const [partition, end] of await log.endOffsets(CUSTOMERS_TOPIC)) {
      for await (const batch of log.read(CUSTOMERS_TOPIC, partition, 0, { untilOffset: end })) records.push(...batch);
    }
    // Partition 0 in a segment (as the compactor writes it), partition 1 left in the log tail.
    const partition0 = records.filter((record) => record.partition === 0);
    await compactIntoSegment(history, 0, partition0.length, '2025-02-19');
  });

  after(async () => {
    await history?.close();
  });

  /** The oracle's plan for each entity row, from the changes as the one decoder reads them. */
  async function oracle(entities: { id: number; ms: number }[]): Promise<(string | null)[]> {
    const decoder = new ViewRowDecoder(
      resolvedView(PROJECT, customerView, [customer], customersSource('debezium')),
      PROJECT,
      new RowDecoder(history.schemas),
      history.schemas,
    );
    await decoder.prepare(records);
    const candidates: PitCandidate<Record<string, FeatureValue>>[] = records.map((record) => {
      const change = decoder.decodeChange(record.value);
      assert.notEqual(change.op, 'tombstone');
      if (change.op === 'tombstone') throw new Error('unreachable');
      return {
        entityKey: decoder.entityKey(change.row),
        eventTimestamp: change.row.eventTimestamp,
        createdTimestamp: change.row.createdTimestamp,
        ...(change.sourcePosition === undefined ? {} : { sourcePosition: change.sourcePosition }),
        position: { partition: record.partition, offset: record.offset },
        values: change.row.features,
      };
    });
    return entities.map(({ id, ms }) => {
      const winner = pointInTimeLookup(
        candidates,
        { entityKey: encodeEntityKey(customer.joinKeys, { customer_id: id }), timestamp: ms * 1000 },
        { ttlSeconds: 0 },
      );
      return (winner?.values.plan as string | null | undefined) ?? null;
    });
  }

  it('picks the later source position among changes of one commit time on two partitions, and nulls after a delete', async () => {
    const entities = [
      { id: 1, ms: T + 9 },
      { id: 1, ms: T + 10 },
      { id: 1, ms: T + 50 },
      { id: 2, ms: T + 19 },
      { id: 2, ms: T + 20 },
      { id: 3, ms: T + 50 },
    ];
    const entitiesPath = join(history.dir, 'entities.csv');
    writeFileSync(
      entitiesPath,
      'customer_id,event_timestamp\n' +
        entities.map(({ id, ms }) => `${id},${new Date(ms).toISOString().replace('Z', '')}`).join('\n') +
        '\n',
    );
    const want = ['first', 'later', 'later', 'kept', null, 'filler-c'];
    // Segments joined in this thread, and in a worker thread whose winners are merged back.
    for (const workers of [0, 1]) {
      const output = join(history.dir, `out-${workers}.parquet`);
      const result = await exportTrainingSet(
        history.sources,
        DEFINITIONS,
        { entities: entitiesPath, features: [`${customerView.name}:plan`], output },
        { workers },
      );
      assert.ok(result.segmentRows > 0 && result.tailRows > 0, 'history from a segment and from the log tail');
      const plans = (await readParquet(output)).map((row) => row.plan);
      assert.deepEqual(plans, want, `${workers} workers`);
    }
    assert.deepEqual(await oracle(entities), want, 'the oracle agrees');
  });
});
