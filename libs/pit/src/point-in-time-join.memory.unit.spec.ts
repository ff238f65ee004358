import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EntityRow, HistoryRow } from './pit-rows';
import { pointInTimeJoin, PitJoinStats } from './point-in-time-join';

const KEYS = 1_000;
const HISTORY_PER_KEY = 2_000;
const ENTITY_ROWS_PER_KEY = 5;
const BATCH = 1_000;
const STEP = 1_000;

const keyAt = (i: number) => `k${String(i).padStart(4, '0')}`;

/** Generates the history lazily and counts what it has handed out, so read-ahead is observable. */
function lazyHistory(lagMicros: number) {
  const progress = { produced: 0 };
  async function* rows(): AsyncGenerator<HistoryRow[]> {
    let batch: HistoryRow[] = [];
    for (let k = 0; k < KEYS; k++) {
      for (let j = 0; j < HISTORY_PER_KEY; j++) {
        const eventTimestamp = j * STEP;
        batch.push({
          entityKey: keyAt(k),
          eventTimestamp,
          createdTimestamp: null,
          position: { partition: 0, offset: k * HISTORY_PER_KEY + j },
          // A lag that varies with j makes later rows known before earlier ones, so the as-served heap fills.
          appendedAt: eventTimestamp + ((j * 7919) % 97) * lagMicros,
          features: { j },
        });
        if (batch.length === BATCH) {
          progress.produced += batch.length;
          yield batch;
          batch = [];
        }
      }
    }
    progress.produced += batch.length;
    if (batch.length > 0) yield batch;
  }
  return { progress, rows: rows() };
}

async function* entityRows(): AsyncGenerator<EntityRow[]> {
  let batch: EntityRow[] = [];
  for (let k = 0; k < KEYS; k++) {
    for (let r = 0; r < ENTITY_ROWS_PER_KEY; r++) {
      const t = ((r + 1) * HISTORY_PER_KEY * STEP) / ENTITY_ROWS_PER_KEY;
      batch.push({ rowIndex: k * ENTITY_ROWS_PER_KEY + r, timestamp: t, entityKeys: { id: keyAt(k) }, columns: {} });
      if (batch.length === 100) {
        yield batch;
        batch = [];
      }
    }
  }
  if (batch.length > 0) yield batch;
}

async function joinAll(asServed: boolean) {
  const history = lazyHistory(STEP * 10);
  const stats = new PitJoinStats();
  const view = { name: 'view', ttlSeconds: 0, features: ['j'], history: history.rows };
  let out = 0;
  for await (const batch of pointInTimeJoin(entityRows(), { keyName: 'id', views: [view], asServed, stats })) {
    out += batch.length;
    const lastKey = Number(batch[batch.length - 1]!.entityKeys.id!.slice(1));
    // Never more than the history through the current key plus the one batch being read.
    assert.ok(history.progress.produced <= (lastKey + 1) * HISTORY_PER_KEY + BATCH, `read ahead at key ${lastKey}`);
  }
  return { stats, out };
}

describe('pointInTimeJoin memory bound', () => {
  it('holds one winner per view, whatever the total history (2M rows, 1k keys)', async () => {
    const { stats, out } = await joinAll(false);
    assert.equal(out, KEYS * ENTITY_ROWS_PER_KEY);
    assert.equal(stats.historyRowsRead, KEYS * HISTORY_PER_KEY);
    assert.equal(stats.peakHeldHistoryRows, 1);
  });

  it('as served, holds at most one key’s not-yet-known rows (2M rows, 1k keys)', async () => {
    const { stats, out } = await joinAll(true);
    assert.equal(out, KEYS * ENTITY_ROWS_PER_KEY);
    assert.equal(stats.historyRowsRead, KEYS * HISTORY_PER_KEY);
    assert.ok(stats.peakHeldHistoryRows > 1, 'the scenario must make some rows wait to become known');
    assert.ok(
      stats.peakHeldHistoryRows <= HISTORY_PER_KEY,
      `held ${stats.peakHeldHistoryRows} rows, more than one key's history (${HISTORY_PER_KEY})`,
    );
  });
});
