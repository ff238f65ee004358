import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parquetMetadata, snappyUncompress } from 'hyparquet';
import { encodeRowGroup, snappyLiterals, TrainingSetWriter } from '@featurelog/jobs';
import { readParquet } from './pit-scenario.test-kit';

describe('training-set writer', () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'featurelog-writer-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('snappy literals decode to the input at every literal length form', () => {
    for (const length of [0, 1, 59, 60, 61, 255, 256, 257, 65535, 65536, 65537, 200_000]) {
      const input = Uint8Array.from({ length }, (_, i) => (i * 7919) & 0xff);
      const output = new Uint8Array(length);
      snappyUncompress(snappyLiterals(input), output);
      assert.deepEqual(output, input, `${length} bytes`);
    }
  });

  it('appends row groups encoded apart, in order, with their metadata moved into place', async () => {
    const path = join(dir, 'out.parquet');
    const columns = [
      { name: 'x', type: 'float64' as const },
      { name: 'id', type: 'int64' as const },
      { name: 'name', type: 'string' as const },
    ];
    const writer = new TrainingSetWriter(path, columns);
    const rows = 40_000; // pages large enough for the adaptive compressor to store doubles as literals
    const want: Record<string, unknown>[] = [];
    for (let g = 0; g < 3; g++) {
      const numbers = Float64Array.from({ length: rows }, (_, i) => Math.sin(g * rows + i) * 1e6);
      const present = Uint8Array.from({ length: rows }, (_, i) => (i % 97 === 0 ? 0 : 1));
      const ids = Array.from({ length: rows }, (_, i) => g * rows + i);
      const names = ids.map((id) => (id % 5 === 0 ? null : `n${id % 13}`));
      writer.appendEncoded(encodeRowGroup(columns, [{ numbers, present }, { values: ids }, { values: names }], rows));
      for (let i = 0; i < rows; i++) {
        want.push({ x: present[i] === 1 ? numbers[i] : null, id: ids[i], name: names[i] });
      }
    }
    writer.finish();
    assert.equal(writer.rowsWritten, 3 * rows);
    const bytes = readFileSync(path);
    const metadata = parquetMetadata(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
    assert.deepEqual(
      metadata.row_groups.map((group) => Number(group.num_rows)),
      [rows, rows, rows],
    );
    assert.ok(metadata.row_groups.every((group) => group.columns.every((c) => c.meta_data?.codec === 'SNAPPY')));
    assert.deepEqual(await readParquet(path), want);
  });

  it('writes numeric columns exactly at their edges, over several pages, nulls included', async () => {
    const path = join(dir, 'numeric.parquet');
    const columns = [
      { name: 'i64', type: 'int64' as const },
      { name: 'ts', type: 'timestamp' as const },
      { name: 'i32', type: 'int32' as const },
      { name: 'f32', type: 'float32' as const },
      { name: 'f64', type: 'float64' as const },
      { name: 'none', type: 'int64' as const },
      { name: 'entity', type: 'int64' as const },
      { name: 'bigints', type: 'int64' as const },
    ];
    const rows = 300_000; // more than one page of 8-byte values
    const int64s = [0, -1, 1, 2 ** 32, -(2 ** 32), 2 ** 32 - 1, -(2 ** 31), 2 ** 53 - 1, -(2 ** 53 - 1), -987654321098];
    const int32s = [0, -1, 2147483647, -2147483648];
    const float32s = [1.5, -2, 0.25];
    const float64s = [Math.PI, -1e300, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 5e-324];
    const present = Uint8Array.from({ length: rows }, (_, i) => (i % 7 === 3 ? 0 : 1));
    const column = (pick: (i: number) => number) => ({
      numbers: Float64Array.from({ length: rows }, (_, i) => pick(i)),
      present,
    });
    const entity = Array.from({ length: rows }, (_, i) => (i % 5 === 0 ? null : i - 1000));
    const writer = new TrainingSetWriter(path, columns);
    writer.appendEncoded(
      encodeRowGroup(
        columns,
        [
          column((i) => int64s[i % int64s.length]!),
          column((i) => 1_700_000_000_000_000 + i),
          column((i) => int32s[i % int32s.length]!),
          column((i) => float32s[i % float32s.length]!),
          column((i) => float64s[i % float64s.length]!),
          { numbers: new Float64Array(rows), present: new Uint8Array(rows) },
          { values: entity },
          { values: entity.map((value) => (value === null ? null : BigInt(value) * 2n ** 20n)) },
        ],
        rows,
      ),
    );
    writer.finish();
    const got = await readParquet(path);
    assert.equal(got.length, rows);
    for (let i = 0; i < rows; i++) {
      const at = (value: number) => (present[i] === 1 ? value : null);
      assert.deepEqual(
        got[i],
        {
          i64: at(int64s[i % int64s.length]!),
          ts: at(1_700_000_000_000_000 + i),
          i32: at(int32s[i % int32s.length]!),
          f32: at(float32s[i % float32s.length]!),
          f64: at(float64s[i % float64s.length]!),
          none: null,
          entity: entity[i],
          bigints: entity[i] === null ? null : entity[i]! * 2 ** 20,
        },
        `row ${i}`,
      );
    }
  });

  it('refuses an int64 value that is not a safe integer, naming it', () => {
    const columns = [{ name: 'n', type: 'int64' as const }];
    assert.throws(
      () => encodeRowGroup(columns, [{ numbers: Float64Array.of(1, 2 ** 60), present: Uint8Array.of(1, 1) }], 2),
      /expected a safe integer for int64, got 1152921504606847000/,
    );
    assert.throws(
      () => encodeRowGroup(columns, [{ values: [1, 0.5] }], 2),
      /expected a safe integer for int64, got 0.5/,
    );
  });
});
