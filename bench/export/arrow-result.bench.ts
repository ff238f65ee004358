/**
 * Training-set results as Arrow: how fast GET /training-sets/:id/result turns the export's Parquet file into
 * an Arrow IPC stream (one record batch per row group, TrainingSets.arrowStream), and how much memory it
 * holds, beside reading the same file with hyparquet alone (the floor: the decoding any answer needs),
 * measured in the same run.
 *
 *   node_modules/.bin/node --expose-gc -r @swc-node/register bench/export/arrow-result.bench.ts
 *   BENCH_ROWS=200000 …   (default 1,000,000 rows of 8 columns, row groups of 100,000 as the export writes)
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parquetMetadataAsync } from 'hyparquet';
import type { ValueType } from '@featurelog/domain';
import { encodeRowGroup, scanTrainingSetFile, TrainingSets, TrainingSetWriter } from '@featurelog/jobs';
import { parquetFileBuffer } from '@featurelog/offline-store';
import { exitOnFailure } from '../bench-entry';

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const GROUP = 100_000;
const COLUMNS: Array<{ name: string; type: ValueType }> = [
  { name: 'driver_id', type: 'int64' },
  { name: 'event_timestamp', type: 'timestamp' },
  { name: 'label', type: 'float64' },
  { name: 'conv_rate', type: 'float64' },
  { name: 'acc_rate', type: 'float32' },
  { name: 'trips', type: 'int64' },
  { name: 'note', type: 'string' },
  { name: 'tags', type: 'list<string>' },
];

function writeFile(path: string): void {
  const writer = new TrainingSetWriter(path, COLUMNS);
  for (let start = 0; start < ROWS; start += GROUP) {
    const rows = Math.min(GROUP, ROWS - start);
    const at = (f: (i: number) => unknown) => ({ values: Array.from({ length: rows }, (_, i) => f(start + i)) });
    writer.appendEncoded(
      encodeRowGroup(
        COLUMNS,
        [
          at((i) => i % 50_000),
          at((i) => 1_714_564_800_000_000 + i * 1_000),
          at((i) => (i % 7) / 7),
          at((i) => (i % 11 === 0 ? null : Math.sin(i))),
          at((i) => Math.fround(i / 3)),
          at((i) => i * 3),
          at((i) => `note ${i % 1000}`),
          at((i) => (i % 3 === 0 ? null : ['a', `t${i % 10}`])),
        ],
        rows,
      ),
    );
  }
  writer.finish();
}

/** Peak RSS while `run` runs, sampled every 5 ms. */
async function measured(run: () => Promise<void>): Promise<{ millis: number; peakRss: number }> {
  (globalThis as { gc?: () => void }).gc?.();
  const before = process.memoryUsage().rss;
  let peak = before;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
  const started = performance.now();
  await run();
  const millis = performance.now() - started;
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage().rss);
  return { millis, peakRss: peak - before };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-arrow-result-'));
  try {
    const path = join(dir, 'set.parquet');
    writeFile(path);
    const fileBytes = statSync(path).size;
    const sets = new TrainingSets({
      project: 'bench',
      directory: dir,
      definitions: () => Promise.reject(new Error('unused')),
      jobs: { submit: () => Promise.reject(new Error('unused')), get: () => undefined },
    });
    const floor = await measured(async () => {
      const handle = await open(path, 'r');
      const file = await parquetFileBuffer(handle);
      const metadata = await parquetMetadataAsync(file);
      const scan = await scanTrainingSetFile(file, metadata);
      for (const { rowStart, rowEnd } of scan.ranges) {
        for (const column of COLUMNS) await scan.readColumn({ column: column.name, rowStart, rowEnd });
      }
      await handle.close();
    });
    let streamed = 0;
    let chunks = 0;
    const arrow = await measured(() =>
      pipeline(
        sets.arrowStream(path),
        new Writable({
          write(chunk: Buffer, _encoding, done) {
            streamed += chunk.length;
            chunks++;
            done();
          },
        }),
      ),
    );
    const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
    console.log(`${ROWS} rows × ${COLUMNS.length} columns, row groups of ${GROUP}; Parquet file ${mb(fileBytes)}`);
    console.log(`floor  (hyparquet decode only):  ${floor.millis.toFixed(0)} ms, peak RSS +${mb(floor.peakRss)}`);
    console.log(
      `arrow  (GET …/result stream):     ${arrow.millis.toFixed(0)} ms, peak RSS +${mb(arrow.peakRss)}, ` +
        `${mb(streamed)} in ${chunks} chunks; ${(arrow.millis / floor.millis).toFixed(2)}× the floor, ` +
        `${((ROWS / arrow.millis) * 1000).toFixed(0)} rows/s`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

exitOnFailure(main());
