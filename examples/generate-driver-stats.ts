/**
 * Writes the sample history of the drivers example, deterministically (same bytes every run):
 * examples/drivers/data/driver_stats.parquet and .csv — hourly stats of 5 drivers over 7 days,
 * columns named like the view driver_hourly_stats, so `featurelog ingest driver_hourly_stats
 * data/driver_stats.parquet` needs no mapping. Timestamps are TIMESTAMP(MICROS, UTC) in Parquet and
 * ISO 8601 in the CSV; created_timestamp lags the event by a few minutes, as a batch job's would.
 *
 *   node_modules/.bin/node -r @swc-node/register examples/generate-driver-stats.ts [outDir]
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parquetWriteBuffer } from 'hyparquet-writer';

const DRIVERS = [1001, 1002, 1003, 1004, 1005];
const START_MICROS = Date.UTC(2025, 0, 1) * 1000;
const HOURS = 7 * 24;
const HOUR_MICROS = 3_600_000_000;

/** mulberry32: deterministic, so the committed sample files are reproducible. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Row {
  driver_id: number;
  event_timestamp: number;
  created_timestamp: number;
  conv_rate: number;
  acc_rate: number;
  avg_daily_trips: number;
}

function rows(): Row[] {
  const random = seeded(20250101);
  const out: Row[] = [];
  for (let hour = 0; hour < HOURS; hour++) {
    for (const driver of DRIVERS) {
      const event = START_MICROS + hour * HOUR_MICROS;
      out.push({
        driver_id: driver,
        event_timestamp: event,
        created_timestamp: event + Math.floor(random() * 600) * 1_000_000,
        conv_rate: Math.round(random() * 1e6) / 1e6,
        acc_rate: Math.round(random() * 1e6) / 1e6,
        avg_daily_trips: Math.floor(random() * 1000),
      });
    }
  }
  return out;
}

const TIMESTAMP_MICROS_UTC = { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MICROS' } as const;

async function main(): Promise<void> {
  const outDir = resolve(process.argv[2] ?? join(__dirname, 'drivers', 'data'));
  await mkdir(outDir, { recursive: true });
  const data = rows();
  const parquet = parquetWriteBuffer({
    schema: [
      { name: 'schema', num_children: 6 },
      { name: 'driver_id', type: 'INT64', repetition_type: 'REQUIRED' },
      { name: 'event_timestamp', type: 'INT64', repetition_type: 'REQUIRED', logical_type: TIMESTAMP_MICROS_UTC },
      { name: 'created_timestamp', type: 'INT64', repetition_type: 'OPTIONAL', logical_type: TIMESTAMP_MICROS_UTC },
      { name: 'conv_rate', type: 'DOUBLE', repetition_type: 'OPTIONAL' },
      { name: 'acc_rate', type: 'DOUBLE', repetition_type: 'OPTIONAL' },
      { name: 'avg_daily_trips', type: 'INT64', repetition_type: 'OPTIONAL' },
    ],
    columnData: [
      { name: 'driver_id', data: data.map((r) => BigInt(r.driver_id)) },
      { name: 'event_timestamp', data: data.map((r) => BigInt(r.event_timestamp)) },
      { name: 'created_timestamp', data: data.map((r) => BigInt(r.created_timestamp)) },
      { name: 'conv_rate', data: data.map((r) => r.conv_rate) },
      { name: 'acc_rate', data: data.map((r) => r.acc_rate) },
      { name: 'avg_daily_trips', data: data.map((r) => BigInt(r.avg_daily_trips)) },
    ],
    createdBy: 'featurelog examples/generate-driver-stats.ts',
  });
  await writeFile(join(outDir, 'driver_stats.parquet'), new Uint8Array(parquet));
  const iso = (micros: number) => new Date(micros / 1000).toISOString().replace('.000Z', 'Z');
  const csv = [
    'driver_id,event_timestamp,created_timestamp,conv_rate,acc_rate,avg_daily_trips',
    ...data.map((r) =>
      [r.driver_id, iso(r.event_timestamp), iso(r.created_timestamp), r.conv_rate, r.acc_rate, r.avg_daily_trips].join(
        ',',
      ),
    ),
  ];
  await writeFile(join(outDir, 'driver_stats.csv'), `${csv.join('\n')}\n`);
  process.stdout.write(`wrote ${data.length} rows to ${outDir}/driver_stats.{parquet,csv}\n`);
}

void main();
