import type { RowGroup } from 'hyparquet';
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
import { writePageHeader } from 'hyparquet-writer/src/datapage.js';
import { writeRleBitPackedHybrid } from 'hyparquet-writer/src/encoding.js';

/**
 * Everything the training-set writer takes from hyparquet-writer beyond its main entry point, in one place.
 *
 * Its numeric fast path writes pages itself (page headers, RLE definition levels) and adds row groups
 * encoded on worker threads to a ParquetWriter, which hyparquet-writer has no public API for. So it uses
 * two modules the package exports as `./src/*.js` (typed in hyparquet-writer-internals.d.ts), the SNAPPY
 * compressor a writer holds, and the fields a writer writes its footer from. Each is a 0.x internal that
 * a minor release could change: the spec beside this file (hyparquet-writer-internals.adapter.unit.spec.ts)
 * checks every one against the installed version, by name, with hyparquet reading back what they write.
 */

/** Writes a Thrift-compact Parquet page header (hyparquet-writer/src/datapage.js). */
export { writePageHeader };

/** Writes RLE / bit-packed hybrid values, returning the bytes written (hyparquet-writer/src/encoding.js). */
export { writeRleBitPackedHybrid };

/** hyparquet-writer's own SNAPPY compressor (it exports none; a writer holds it as `compressors.SNAPPY`). */
export const builtinSnappy = (
  new ParquetWriter({ writer: new ByteWriter(16), schema: [{ name: 'root', num_children: 0 }] }) as unknown as {
    compressors: { SNAPPY: (input: Uint8Array) => Uint8Array };
  }
).compressors.SNAPPY;

/** A column chunk whose page indexes a writer writes at the end of the file. */
export interface PendingIndex {
  chunk: RowGroup['columns'][number];
  offsetIndex?: { page_locations: { offset: bigint }[] };
}

/** The parts of hyparquet-writer's ParquetWriter that a row group encoded elsewhere is added to. */
export interface ParquetWriterInternals {
  /** Row groups written so far; finish() writes them into the footer. */
  row_groups: RowGroup[];
  /** Column chunks whose indexes finish() writes before the footer. */
  pendingIndexes: PendingIndex[];
  /** Rows written so far; finish() writes it into the footer. */
  num_rows: bigint;
}

/** The writer's footer state, to pop row groups it wrote or to push ones encoded elsewhere. */
export function writerInternals(writer: ParquetWriter): ParquetWriterInternals {
  return writer as unknown as ParquetWriterInternals;
}
