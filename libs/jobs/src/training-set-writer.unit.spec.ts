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
});
