import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DEMO_ENTITY_ROWS,
  LATE_DRIVER,
  LIVE_DRIVERS,
  liveValues,
  REPO_ROOT,
  type DemoResult,
} from '../../../../tools/quickstart/demo';

/** What the quickstart demo must serve and export, worked out by brute force: shared by the specs that run it. */

const TTL_MICROS = 2 * 3_600_000_000;

/** Parquet hands back bigints and Dates: plain numbers and ISO text compare across runs and with the oracle. */
export function plain(rows: ReadonlyArray<Record<string, unknown>>): Array<Record<string, unknown>> {
  return rows.map((row) =>
    Object.fromEntries(
      Object.entries(row).map(([key, value]) => [
        key,
        typeof value === 'bigint' ? Number(value) : value instanceof Date ? value.toISOString() : value,
      ]),
    ),
  );
}

const micros = (iso: string) => Date.parse(iso) * 1_000;

/** The training set the demo must export, worked out from the sample history by brute force. */
export async function expectedTrainingSet(): Promise<Array<Record<string, unknown>>> {
  const [, ...lines] = (await readFile(join(REPO_ROOT, 'examples', 'drivers', 'data', 'driver_stats.csv'), 'utf8'))
    .trim()
    .split('\n');
  const history = lines.map((line) => {
    const [driver, event, created, conv, acc, trips] = line.split(',');
    return {
      driver: Number(driver),
      event: micros(event!),
      created: micros(created!),
      conv_rate: Number(conv),
      acc_rate: Number(acc),
      avg_daily_trips: Number(trips),
    };
  });
  return DEMO_ENTITY_ROWS.slice(1).map((line) => {
    const [driver, time, label] = line.split(',');
    const at = micros(time!);
    const match = history
      .filter((row) => row.driver === Number(driver) && row.event <= at && row.event >= at - TTL_MICROS)
      .sort((a, b) => b.event - a.event || b.created - a.created)[0];
    return {
      driver_id: Number(driver),
      event_timestamp: new Date(at / 1_000).toISOString(),
      trip_completed: Number(label),
      conv_rate: match?.conv_rate ?? null,
      acc_rate: match?.acc_rate ?? null,
      avg_daily_trips: match?.avg_daily_trips ?? null,
    };
  });
}

export function assertDemoResults(result: DemoResult, expected: Array<Record<string, unknown>>): void {
  for (const row of result.online) {
    const statuses = Object.values(row.statuses);
    if (LIVE_DRIVERS.includes(row.driver_id)) {
      assert.deepEqual(row.values, liveValues(row.driver_id, 2), `driver ${row.driver_id} serves its newest live row`);
      assert.ok(statuses.every((status) => status === 'PRESENT'));
    } else if (row.driver_id === LATE_DRIVER) {
      assert.deepEqual(row.values, liveValues(LATE_DRIVER, 0));
      assert.ok(
        statuses.every((status) => status === 'OUTSIDE_MAX_AGE'),
        'a row older than the TTL',
      );
    } else {
      assert.ok(
        statuses.every((status) => status === 'NOT_FOUND'),
        `driver ${row.driver_id} was never seen`,
      );
    }
  }
  const training = plain(result.training).map((row) => ({ ...row, trip_completed: Number(row.trip_completed) }));
  assert.deepEqual(training, expected);
}
