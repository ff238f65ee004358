import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SegmentCodec } from './segment-codec.port';
import type { SegmentRow, SegmentSchema } from './segment-schema';

/** A schema with every value type as a feature, and a two-part entity key. */
export const EVERY_TYPE_SCHEMA: SegmentSchema = {
  view: 'every_type',
  viewVersion: 1,
  joinKeys: [
    { name: 'driver_id', type: 'int64' },
    { name: 'region', type: 'string' },
  ],
  features: [
    { name: 'f_bool', type: 'bool' },
    { name: 'f_int32', type: 'int32' },
    { name: 'f_int64', type: 'int64' },
    { name: 'f_float32', type: 'float32' },
    { name: 'f_float64', type: 'float64' },
    { name: 'f_string', type: 'string' },
    { name: 'f_bytes', type: 'bytes' },
    { name: 'f_timestamp', type: 'timestamp' },
    { name: 'f_list_float64', type: 'list<float64>' },
    { name: 'f_list_string', type: 'list<string>' },
    { name: 'f_list_int64', type: 'list<int64>' },
    { name: 'f_list_timestamp', type: 'list<timestamp>' },
  ],
};

/** Rows that exercise edges: nulls everywhere they may be, µs precision, 53-bit integers, empty vs null lists. */
export function everyTypeRows(count: number): SegmentRow[] {
  const rows: SegmentRow[] = [];
  for (let i = 0; i < count; i++) {
    const allNull = i % 3 === 1;
    rows.push({
      joinKeys: { driver_id: i === 0 ? -(2 ** 53 - 1) : 1000 + i, region: i % 2 ? 'eu-west' : 'ünïcødé ✓' },
      eventTimestamp: 1_735_689_600_123_457 + i * 1_000_001,
      createdTimestamp: i % 4 === 0 ? null : 1_735_689_600_000_001 + i,
      partition: i % 3,
      offset: 2 ** 40 + i,
      appendTime: 1_735_689_700_000_000 + i * 7,
      features: allNull
        ? Object.fromEntries(EVERY_TYPE_SCHEMA.features.map((f) => [f.name, null]))
        : {
            f_bool: i % 2 === 0,
            f_int32: i % 2 ? -(2 ** 31) : 2 ** 31 - 1,
            f_int64: i % 2 ? 2 ** 53 - 1 - i : -(2 ** 40) - i,
            f_float32: Math.fround(1.1 * i),
            f_float64: i === 2 ? -0.1 : Math.PI * i,
            f_string: i === 0 ? '' : `value ${i} — ✓`,
            f_bytes: new Uint8Array([0, 255, i % 256, 10]),
            f_timestamp: i === 0 ? -1 : 1_600_000_000_000_001 + i, // before 1970 too
            f_list_float64: i % 2 ? [] : [0.5, i, -1e300],
            f_list_string: ['a', '', `s${i}`],
            f_list_int64: [2 ** 53 - 1, -(2 ** 53 - 1), 0],
            f_list_timestamp: [1_735_689_600_000_001, 0],
          },
    });
  }
  return rows;
}

/**
 * What every segment codec must do. Call from an adapter's spec: `segmentCodecContract('hyparquet', () => codec)`.
 */
export function segmentCodecContract(name: string, makeCodec: () => SegmentCodec): void {
  describe(`segment codec contract: ${name}`, () => {
    let directory: string;
    let codec: SegmentCodec;
    before(() => {
      directory = mkdtempSync(join(tmpdir(), 'featurelog-codec-'));
      codec = makeCodec();
    });
    after(() => rmSync(directory, { recursive: true, force: true }));

    async function writeFile(
      file: string,
      batches: Iterable<SegmentRow[]> | AsyncIterable<SegmentRow[]>,
      rowGroupSize?: number,
      onChunk?: () => void,
    ) {
      const chunks: Uint8Array[] = [];
      const { rowCount } = await codec.write(
        EVERY_TYPE_SCHEMA,
        batches,
        {
          write: (bytes) => {
            chunks.push(Uint8Array.from(bytes));
            onChunk?.();
          },
        },
        { rowGroupSize },
      );
      const path = join(directory, file + codec.extension);
      writeFileSync(path, Buffer.concat(chunks));
      return { path, rowCount };
    }

    async function readAll(path: string) {
      const batches: SegmentRow[][] = [];
      for await (const batch of codec.read(path)) batches.push(batch);
      return batches;
    }

    it('round-trips every value type exactly, nulls and microseconds included', async () => {
      const rows = everyTypeRows(12);
      const { path, rowCount } = await writeFile('every-type', [rows.slice(0, 5), rows.slice(5)]);
      assert.equal(rowCount, 12);
      const back = (await readAll(path)).flat();
      assert.deepEqual(back, rows);
    });

    it('stores the schema in the file', async () => {
      const { path } = await writeFile('schema', [everyTypeRows(1)]);
      assert.deepEqual(await codec.readSchema(path), EVERY_TYPE_SCHEMA);
    });

    it('reads back one batch per row group, whatever batches were written', async () => {
      const rows = everyTypeRows(10);
      const { path } = await writeFile('groups', [rows.slice(0, 3), rows.slice(3, 4), rows.slice(4)], 4);
      const batches = await readAll(path);
      assert.deepEqual(
        batches.map((b) => b.length),
        [4, 4, 2],
      );
      assert.deepEqual(batches.flat(), rows);
    });

    it('hands bytes to the sink before the input ends, so a segment is never held whole', async () => {
      let chunksSeen = 0;
      let chunksBeforeLastBatch = -1;
      const rows = everyTypeRows(30);
      async function* batches() {
        yield rows.slice(0, 10);
        yield rows.slice(10, 20);
        chunksBeforeLastBatch = chunksSeen;
        yield rows.slice(20);
      }
      await writeFile('streaming', batches(), 10, () => chunksSeen++);
      assert.ok(
        chunksBeforeLastBatch > 0,
        `no bytes reached the sink before the last batch (saw ${chunksBeforeLastBatch})`,
      );
    });

    it('writes and reads a segment without rows', async () => {
      const { path, rowCount } = await writeFile('empty', []);
      assert.equal(rowCount, 0);
      assert.deepEqual((await readAll(path)).flat(), []);
    });
  });
}
