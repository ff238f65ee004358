// Modules of hyparquet-writer that its package exports (./src/*.js) but this project's module
// resolution does not type: the page-level encoders the training-set writer's numeric fast path uses.
declare module 'hyparquet-writer/src/datapage.js' {
  import type { PageHeader } from 'hyparquet';
  import type { ByteWriter } from 'hyparquet-writer';
  export function writePageHeader(writer: ByteWriter, header: PageHeader): void;
}

declare module 'hyparquet-writer/src/encoding.js' {
  import type { ByteWriter } from 'hyparquet-writer';
  export function writeRleBitPackedHybrid(writer: ByteWriter, values: ArrayLike<number>, bitWidth: number): number;
}
