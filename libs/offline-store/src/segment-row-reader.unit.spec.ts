import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FeaturelogError } from '@featurelog/domain';
import { RowDecoder, type AvroSchema } from '@featurelog/avro';
import type { LogRecord } from '@featurelog/log';
import type { UnreadableRecord } from '@featurelog/view-rows';
import {
  customer,
  customersSource,
  customerView,
  debeziumJsonRecord,
  randomCustomerRow,
} from '@featurelog/view-rows/testing';
import { seededRandom } from '@featurelog/testing';
import { buildOfflineView, SegmentRowReader } from '@featurelog/offline-store';

const registry = {
  getSchema: async (id: number): Promise<AvroSchema> => {
    throw new FeaturelogError('SCHEMA_NOT_FOUND', `no schema with id ${id}`);
  },
} as never;

describe('SegmentRowReader on a Debezium source', () => {
  const random = seededRandom(3);
  const upserted = { ...randomCustomerRow(random, 7), updatedMs: 1_740_823_300_000 };
  const deleted = { ...upserted, updatedMs: 1_740_823_400_000 };
  const records: LogRecord[] = [
    debeziumJsonRecord('c', upserted, 100),
    debeziumJsonRecord('d', deleted, 101),
    null,
  ].map((value, offset) => ({
    topic: 'pg.public.customers',
    partition: 0,
    offset,
    key: null,
    value,
    headers: {},
    timestamp: 1_740_823_500_000,
  }));
  const view = buildOfflineView('shop', customerView, [customer], customersSource('debezium'));

  it('writes a delete into the history as a deleted row without values, at its commit time and source position, and skips its tombstone', async () => {
    const unreadable: UnreadableRecord[] = [];
    const rows = await SegmentRowReader.open(view, registry, 'shop').read(
      new RowDecoder(registry),
      records,
      unreadable,
    );
    assert.deepEqual(unreadable, []);
    assert.equal(rows.length, 3);
    assert.equal(rows[0]!.features.plan, upserted.plan);
    assert.equal(rows[0]!.sourcePosition, '00000000000000000100');
    assert.equal(rows[0]!.deleted, undefined);
    assert.deepEqual(rows[1], {
      joinKeys: { customer_id: 7 },
      eventTimestamp: deleted.updatedMs * 1000,
      createdTimestamp: null,
      partition: 0,
      offset: 1,
      appendTime: 1_740_823_500_000_000,
      sourcePosition: '00000000000000000101',
      deleted: true,
      features: Object.fromEntries(customerView.features.map((feature) => [feature.name, null])),
    });
    assert.equal(rows[2], null);
  });

  it('gives an online backfill the delete too, marked deleted, for it to write as a delete', async () => {
    const unreadable: UnreadableRecord[] = [];
    const rows = await SegmentRowReader.open(view, registry, 'shop', { forStore: 'online' }).read(
      new RowDecoder(registry),
      records,
      unreadable,
    );
    assert.deepEqual(unreadable, []);
    assert.deepEqual(
      rows.map((row) => row?.deleted ?? null),
      [null, true, null],
    );
  });
});
