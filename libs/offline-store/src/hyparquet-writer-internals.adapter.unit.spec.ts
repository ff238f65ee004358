/**
 * The hyparquet-writer internals the training-set writer relies on (hyparquet-writer-internals.adapter.ts),
 * checked one by one against the installed version, with hyparquet reading back what they write: an
 * upgrade that moves or changes any of them fails here, by name.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parquetMetadata, parquetReadObjects, snappyUncompress, type PageHeader } from 'hyparquet';
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
import {
  builtinSnappy,
  writePageHeader,
  writerInternals,
  writeRleBitPackedHybrid,
} from './hyparquet-writer-internals.adapter';

// hyparquet's own decoders of what the adapter's functions write (exported as ./src/*.js, untyped here).
/* eslint-disable @typescript-eslint/no-require-imports */
const { readRleBitPackedHybrid } = require('hyparquet/src/encoding.js') as {
  readRleBitPackedHybrid(
    reader: { view: DataView; offset: number },
    width: number,
    output: number[],
    length: number,
  ): void;
};
const { parquetHeader } = require('hyparquet/src/column.js') as {
  parquetHeader(reader: { view: DataView; offset: number }): PageHeader;
};
/* eslint-enable @typescript-eslint/no-require-imports */

const reader = (bytes: Uint8Array) => ({
  view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength),
  offset: 0,
});

describe('hyparquet-writer internals the training-set writer relies on', () => {
  it('builtinSnappy is a SNAPPY compressor whose output hyparquet decompresses', () => {
    const input = new TextEncoder().encode('featurelog '.repeat(1000));
    const compressed = builtinSnappy(input);
    assert.ok(compressed.length < input.length / 4, `${compressed.length} bytes of ${input.length}`);
    const output = new Uint8Array(input.length);
    snappyUncompress(compressed, output);
    assert.deepEqual(output, input);
  });

  it('writeRleBitPackedHybrid writes levels hyparquet reads back, and returns the bytes written', () => {
    const levels = [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 0, 1, 1];
    const writer = new ByteWriter(64);
    const written = writeRleBitPackedHybrid(writer, Uint8Array.from(levels), 1);
    assert.equal(written, writer.offset);
    const output = new Array<number>(levels.length).fill(-1);
    readRleBitPackedHybrid(reader(new Uint8Array(writer.getBuffer(), 0, writer.offset)), 1, output, written);
    assert.deepEqual(output, levels);
  });

  it('writePageHeader writes a DATA_PAGE_V2 header hyparquet parses back field by field', () => {
    const header: PageHeader = {
      type: 'DATA_PAGE_V2',
      uncompressed_page_size: 120,
      compressed_page_size: 80,
      data_page_header_v2: {
        num_values: 12,
        num_nulls: 2,
        num_rows: 12,
        encoding: 'PLAIN',
        definition_levels_byte_length: 4,
        repetition_levels_byte_length: 0,
        is_compressed: true,
      },
    };
    const writer = new ByteWriter(64);
    writePageHeader(writer, header);
    const parsed = parquetHeader(reader(new Uint8Array(writer.getBuffer(), 0, writer.offset)));
    assert.equal(parsed.type, 'DATA_PAGE_V2');
    assert.equal(parsed.uncompressed_page_size, 120);
    assert.equal(parsed.compressed_page_size, 80);
    const v2 = parsed.data_page_header_v2!;
    assert.deepEqual(
      [
        v2.num_values,
        v2.num_nulls,
        v2.num_rows,
        v2.encoding,
        v2.definition_levels_byte_length,
        v2.repetition_levels_byte_length,
      ],
      [12, 2, 12, 'PLAIN', 4, 0],
    );
    assert.notEqual(v2.is_compressed, false);
  });

  it('a ParquetWriter keeps row_groups, pendingIndexes and num_rows, and writes its footer from them', async () => {
    const sink = new ByteWriter(1024);
    const writer = new ParquetWriter({
      writer: sink,
      schema: [
        { name: 'root', num_children: 1 },
        { name: 'x', type: 'INT32', repetition_type: 'REQUIRED' },
      ],
    });
    const internals = writerInternals(writer);
    assert.deepEqual([internals.row_groups, internals.pendingIndexes, internals.num_rows], [[], [], 0n]);
    void writer.write({ columnData: [{ name: 'x', data: Int32Array.from([1, 2, 3]) }], rowGroupSize: 3 });
    assert.equal(internals.row_groups.length, 1);
    assert.equal(internals.num_rows, 3n);
    assert.equal(internals.pendingIndexes.length, 1);
    assert.equal(internals.pendingIndexes[0]!.chunk, internals.row_groups[0]!.columns[0]);
    // What the training-set writer does: take a row group out, then add it back as one encoded elsewhere.
    const group = internals.row_groups.pop()!;
    internals.row_groups.push(group);
    writer.finish();
    const file = sink.getBuffer().slice(0, sink.offset);
    const metadata = parquetMetadata(file);
    assert.equal(metadata.num_rows, 3n);
    assert.equal(metadata.row_groups.length, 1);
    assert.deepEqual(await parquetReadObjects({ file }), [{ x: 1 }, { x: 2 }, { x: 3 }]);
  });
});
