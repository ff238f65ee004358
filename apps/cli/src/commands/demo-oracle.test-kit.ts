import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseTimestampText, pointInTimeLookup } from '@featurelog/domain';
import {
  DEMO_ENTITY_ROWS,
  LATE_DRIVER,
  LIVE_DRIVERS,
  liveValues,
  REPO_ROOT,
  type DemoResult,
} from '../../../../tools/quickstart/demo';

/** What the quickstart demo must serve and export, worked out by brute force: shared by the specs that run it. */

/** driver_hourly_stats' TTL in the example repository. */
const TTL_SECONDS = 2 * 3_600;

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

const micros = (iso: string) => parseTimestampText(iso)!;

/** The training set the demo must export: the domain's point-in-time rule (the oracle) over the sample history. */
export async function expectedTrainingSet(): Promise<Array<Record<string, unknown>>> {
  const [, ...lines] = (await readFile(join(REPO_ROOT, 'examples', 'drivers', 'data', 'driver_stats.csv'), 'utf8'))
    .trim()
    .split('\n');
  // Ingested in file order, one driver's rows in one partition: the line is the log position.
  const history = lines.map((line, offset) => {
    const [driver, event, created, conv, acc, trips] = line.split(',');
    return {
      entityKey: driver!,
      eventTimestamp: micros(event!),
      createdTimestamp: micros(created!),
      position: { partition: 0, offset },
      values: { conv_rate: Number(conv), acc_rate: Number(acc), avg_daily_trips: Number(trips) },
    };
  });
  return DEMO_ENTITY_ROWS.slice(1).map((line) => {
    const [driver, time, label] = line.split(',');
    const at = micros(time!);
    const match = pointInTimeLookup(history, { entityKey: driver!, timestamp: at }, { ttlSeconds: TTL_SECONDS });
    return {
      driver_id: Number(driver),
      event_timestamp: new Date(at / 1_000).toISOString(),
      trip_completed: Number(label),
      conv_rate: match?.values.conv_rate ?? null,
      acc_rate: match?.values.acc_rate ?? null,
      avg_daily_trips: match?.values.avg_daily_trips ?? null,
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
