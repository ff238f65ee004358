import type { FileHandle } from 'node:fs/promises';
import type { AsyncBuffer } from 'hyparquet';

/**
 * Byte ranges of one open Parquet file, as hyparquet asks for them (footer first, then column
 * chunks). A short read (the file shrank under us) fails rather than yielding zeros.
 */
export async function parquetFileBuffer(handle: FileHandle): Promise<AsyncBuffer> {
  const { size } = await handle.stat();
  return {
    byteLength: size,
    async slice(start: number, end = size): Promise<ArrayBuffer> {
      const bytes = new Uint8Array(end - start);
      const { bytesRead } = await handle.read(bytes, 0, bytes.length, start);
      if (bytesRead !== bytes.length) throw new Error(`short read: ${bytesRead} of ${bytes.length} bytes at ${start}`);
      return bytes.buffer;
    },
  };
}
