import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { openEntityFile } from './entity-file';

describe('Parquet entity files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'featurelog-entity-file-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a plain BYTE_ARRAY column as bytes, not as UTF-8 text, and STRING and ENUM columns as text', async () => {
    // 0xff and a lone 0xc3 are not UTF-8: read as text they would come back as U+FFFD and collide.
    const keys = [Uint8Array.of(0xff, 0x00, 0x01), Uint8Array.of(0xc3), Uint8Array.of(0xfe, 0xff)];
    const path = join(dir, 'bytes-keys.parquet');
    const buffer = parquetWriteBuffer({
      columnData: [
        { name: 'device_id', data: keys },
        { name: 'city', data: ['Zürich', 'Genève', 'Bern'] },
        { name: 'event_timestamp', data: [1n, 2n, 3n] },
        { name: 'tier', data: ['gold', 'silver', 'gold'].map((text) => Buffer.from(text)) },
      ],
      // An ENUM column (as Avro-to-Parquet writers make them) is text, though hyparquet reads it as bytes.
      schema: [
        { name: 'root', num_children: 4 },
        { name: 'device_id', type: 'BYTE_ARRAY', repetition_type: 'OPTIONAL' },
        { name: 'city', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
        { name: 'event_timestamp', type: 'INT64', repetition_type: 'OPTIONAL' },
        { name: 'tier', type: 'BYTE_ARRAY', converted_type: 'ENUM', repetition_type: 'OPTIONAL' },
      ],
    });
    writeFileSync(path, new Uint8Array(buffer));

    const file = await openEntityFile(path, 'parquet');
    assert.deepEqual(
      file.columns.map(({ name, type }) => [name, type]),
      [
        ['device_id', 'bytes'],
        ['city', 'string'],
        ['event_timestamp', 'int64'],
        ['tier', 'string'],
      ],
    );
    const batches: unknown[][][] = [];
    for await (const columns of file.columnBatches!()) batches.push(columns as unknown[][]);
    const [deviceIds, cities, , tiers] = batches[0]!.map((column) => Array.from(column));
    assert.deepEqual(tiers, ['gold', 'silver', 'gold']);
    assert.deepEqual(
      deviceIds!.map((value) => Buffer.from(value as Uint8Array).toString('hex')),
      ['ff0001', 'c3', 'feff'],
    );
    assert.deepEqual(cities, ['Zürich', 'Genève', 'Bern']);
    const rows: unknown[][] = [];
    for await (const group of file.rows()) rows.push(...group);
    assert.deepEqual(
      rows.map((row) => Buffer.from(row[0] as Uint8Array).toString('hex')),
      ['ff0001', 'c3', 'feff'],
    );
    assert.deepEqual(
      rows.map((row) => row[3]),
      ['gold', 'silver', 'gold'],
    );
  });
});
