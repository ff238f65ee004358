// Modules of hyparquet-writer that its package exports (./src/*.js) but this project's module
// resolution does not type; imported only by hyparquet-writer-internals.adapter.ts, the one file that fences them.
declare module 'hyparquet-writer/src/datapage.js' {
  import type { PageHeader } from 'hyparquet';
  import type { ByteWriter } from 'hyparquet-writer';
  export function writePageHeader(writer: ByteWriter, header: PageHeader): void;
}

declare module 'hyparquet-writer/src/encoding.js' {
  import type { ByteWriter } from 'hyparquet-writer';
  export function writeRleBitPackedHybrid(writer: ByteWriter, values: ArrayLike<number>, bitWidth: number): number;
}
