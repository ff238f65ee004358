import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { encodeEntityKey } from '@featurelog/domain';
import { RowDecoder } from '@featurelog/avro';
import { LevelOnlineStore, type OnlineViewValue } from '@featurelog/online-store';
import { ViewProjection } from '@featurelog/materializer';
import { backfillView } from '@featurelog/jobs';
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
 * A backfill of a view over a Debezium source (segments + the log tail, or the whole log) must leave the
 * online store as the materializer leaves it: every entity the table still holds with its last values,
 * every deleted one absent (NOT_FOUND), whatever inserts, updates and deletes came before.
 */
const PARTITIONS = 3;
const IDS = Array.from({ length: 12 }, (_, i) => i + 1);
const entityKey = (id: number) => encodeEntityKey(customer.joinKeys, { customer_id: id });

describe('backfill of a view over a Debezium source (inserts, updates, deletes) equals the materializer', () => {
  const seed = Number(process.env.FEATURELOG_CDC_SEED ?? 20_261_202);
  let history: CdcHistory;
  /** The table's final state: id → row. */
  const table = new Map<number, CustomerRow>();
  let materialized: LevelOnlineStore;

  before(async () => {
    history = await openCdcHistory('cdc-backfill', PARTITIONS);
    const { dir, log, schemas } = history;

    // Commits of random changes, some in the same millisecond (then the LSN orders them), each keyed by
    // its row's id as Debezium keys them (one row's changes in one partition); a tombstone after each delete.
    const random = seededRandom(seed);
    let committedMs = 1_740_000_000_000;
    let lsn = 24_000_000;
    for (let i = 0; i < 240; i++) {
      const id = IDS[Math.floor(random() * IDS.length)]!;
      committedMs += random() < 0.3 ? 0 : 1 + Math.floor(random() * 1000);
      lsn += 8 + Math.floor(random() * 64);
      const held = table.get(id);
      const op: DebeziumOp = held === undefined ? (i < 20 ? 'r' : 'c') : random() < 0.25 ? 'd' : 'u';
      const row = op === 'd' ? { ...held!, updatedMs: committedMs } : randomCustomerRow(random, id);
      row.updatedMs = committedMs;
      if (op === 'd') table.delete(id);
      else table.set(id, row);
      const key = Buffer.from(JSON.stringify({ id }));
      const partition = id % PARTITIONS;
      await log.append(CUSTOMERS_TOPIC, [
        { key, value: debeziumJsonRecord(op, row, lsn, held), partition },
        ...(op === 'd' ? [{ key, value: null, partition }] : []),
      ]);
    }
    assert.ok(table.size > 0 && table.size < IDS.length, `seed ${seed}: some rows deleted, some kept`);

    // The materializer's projection of every record, in log order per partition, into its store.
    materialized = await LevelOnlineStore.open({ path: join(dir, 'materialized') });
    const projection = new ViewProjection(
      customerView,
      [customer],
      customersSource('debezium'),
      PROJECT,
      new RowDecoder(schemas),
      schemas,
      0,
    );
    const ends = await log.endOffsets(CUSTOMERS_TOPIC);
    for (const [partition, end] of ends) {
      for await (const records of log.read(CUSTOMERS_TOPIC, partition, 0, { untilOffset: end })) {
        await projection.prepare(records);
        const rows = records.map((record) => projection.toRow(record, PROJECT)).filter((row) => row !== null);
        await materialized.writeBatch({ rows });
      }
    }

    // The first half of each partition compacted into segments (as the compactor decodes and writes them).
    for (const [partition, end] of ends) {
      const until = Math.floor(end / 2);
      if (until > 0) await compactIntoSegment(history, partition, until, '2025-03-01');
    }
  });

  after(async () => {
    await materialized?.close();
    await history?.close();
  });

  async function readAll(store: LevelOnlineStore): Promise<(OnlineViewValue | null)[]> {
    const values = await store.read(
      PROJECT,
      IDS.map((id) => ({ entityKey: entityKey(id), views: [customerView.name] })),
    );
    return values.map((value) => value[0] ?? null);
  }

  for (const source of ['segments', 'log'] as const) {
    it(`from ${source}: the same entities present (with the same values and versions) and absent`, async () => {
      const store = await LevelOnlineStore.open({ path: join(history.dir, `backfill-${source}`) });
      try {
        const result = await backfillView(history.sources, DEFINITIONS, store, { view: customerView.name, source });
        assert.equal(result.undecodableTailRecords, 0);
        const want = await readAll(materialized);
        const got = await readAll(store);
        assert.deepEqual(
          got.map((value) => value !== null),
          IDS.map((id) => table.has(id)),
          `seed ${seed}: present as in the table's final state`,
        );
        assert.deepEqual(got, want, `seed ${seed}`);
      } finally {
        await store.close();
      }
    });
  }

  it('a backfill over a store the materializer filled changes nothing (deletes stay deleted)', async () => {
    const before = await readAll(materialized);
    // Not asserted: rowsWon. The same rows written again count as won while the embedded store keeps no
    // source position (its layout, which `layout` changes, drops it): the values and versions stay.
    await backfillView(history.sources, DEFINITIONS, materialized, { view: customerView.name });
    assert.deepEqual(await readAll(materialized), before);
  });
});
