import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RowDecoder, type AvroSchema } from '@featurelog/avro';
import { FeaturelogError } from '@featurelog/domain';
import type { LogRecord } from '@featurelog/log';
import { ViewProjection } from '@featurelog/materializer';
import { seededRandom } from '@featurelog/testing';
import {
  customer,
  customersSource,
  customerView,
  CUSTOMERS_TOPIC,
  debeziumJsonRecord,
  randomCustomerRow,
} from '@featurelog/view-rows/testing';

const schemas = {
  getSchema: async (id: number): Promise<AvroSchema> => {
    throw new FeaturelogError('SCHEMA_NOT_FOUND', `no schema with id ${id}`);
  },
};

describe('ViewProjection of a Debezium source', () => {
  it("gives online rows the change's source position, and a delete as a deleted row without features", async () => {
    const projection = new ViewProjection(
      customerView,
      [customer],
      customersSource('debezium'),
      'shop',
      new RowDecoder(schemas as never),
      schemas as never,
      0,
    );
    const row = { ...randomCustomerRow(seededRandom(5), 8), updatedMs: 1_740_823_300_000 };
    const record = (offset: number, value: Buffer | null): LogRecord => ({
      topic: CUSTOMERS_TOPIC,
      partition: 2,
      offset,
      key: null,
      value,
      headers: {},
      timestamp: 1_740_823_301_000,
    });
    const records = [
      record(0, debeziumJsonRecord('u', row, 24_023_928)),
      record(1, debeziumJsonRecord('d', { ...row, updatedMs: row.updatedMs + 1 }, 24_024_096)),
      record(2, null),
    ];
    await projection.prepare(records);
    const [updated, deleted, tombstone] = records.map((r) => projection.toRow(r, 'shop'));
    assert.deepEqual(updated!.version, {
      eventTimestamp: row.updatedMs * 1000,
      createdTimestamp: null,
      position: { partition: 2, offset: 0 },
      sourcePosition: '00000000000024023928',
    });
    assert.equal(updated!.deleted, undefined);
    assert.deepEqual(
      [deleted!.deleted, deleted!.features, deleted!.version.sourcePosition],
      [true, {}, '00000000000024024096'],
    );
    assert.equal(tombstone, null);
  });
});
