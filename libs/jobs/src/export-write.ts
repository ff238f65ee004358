import type { ValueType } from '@featurelog/domain';
import { textAs, type EntityFrame } from './entity-rows';
import type { FeatureColumn, FrameFeatures } from './export-join';
import type { ExportPlan, OutputColumn } from './export-plan';
import { throwIfCancelled } from './job-cancellation';
import type { ProgressListener } from './job-progress';
import type { SegmentJoinPool } from './segment-join-pool';
import {
  encodeRowGroup,
  isNumberType,
  TrainingSetWriter,
  type EncodedRowGroup,
  type RowGroupColumn,
} from './training-set-writer';

export interface FrameWriteOptions {
  /** Rows per row group of the training set. */
  rowGroupSize: number;
  progress: ProgressListener;
  signal: AbortSignal | undefined;
}

/**
 * The export's write stage: the training set, frame after frame, in the entity file's row order — its
 * columns (typed as EntityFrames.columnTypes decided) followed by the requested features. Each frame is
 * cut into row groups, encoded in parallel (this thread and the pool's workers each take a share) and
 * appended in order to a {@link TrainingSetWriter}, whose hidden temporary file is created with this
 * object: nothing is visible at the output path before {@link finish}, and {@link abort} removes it.
 */
export class TrainingSetOutput {
  private readonly writer: TrainingSetWriter;
  /** Per output column: the entity column it copies, or the view and feature index it takes. */
  private readonly sources: ({ entity: number } | { view: string; feature: number })[];

  constructor(
    private readonly plan: ExportPlan,
    private readonly entityTypes: readonly ValueType[],
    private readonly pool: SegmentJoinPool | undefined,
    private readonly options: FrameWriteOptions,
  ) {
    this.writer = new TrainingSetWriter(
      plan.request.output,
      plan.columns.map((column) =>
        column.source === 'entity' ? { name: column.name, type: entityTypes[column.index]! } : column,
      ),
    );
    this.sources = plan.columns.map((column) => sourceOf(plan, column));
  }

  /** Writes a joined frame; `rowsRead` (the entity rows read so far) is the total its progress reports. */
  async writeFrame(frame: EntityFrame, features: FrameFeatures, rowsRead: number): Promise<void> {
    const { writer, pool } = this;
    const { rowGroupSize, progress, signal } = this.options;
    progress({ phase: 'writing', done: writer.rowsWritten, total: rowsRead });
    const columnGroup = this.frameColumns(frame, features);
    // Row groups are encoded in parallel (every thread takes its share), then appended in order.
    const threads = pool === undefined ? 1 : pool.size + 1;
    const outputColumns = [...writer.columnTypes];
    const encoded: Promise<{ group: EncodedRowGroup } | { error: unknown }>[] = [];
    const groups = Math.ceil(frame.length / rowGroupSize);
    const bounds = (g: number) => [g * rowGroupSize, Math.min(frame.length, (g + 1) * rowGroupSize)] as const;
    for (let g = 0; g < groups; g++) {
      if (pool === undefined || g % threads === 0) continue;
      const [start, end] = bounds(g);
      encoded[g] = pool.encode(outputColumns, columnGroup(start, end), end - start).then(
        (group) => ({ group }),
        (error: unknown) => ({ error }),
      );
    }
    // This thread encodes its share in order, appending each group (its own or a worker's) once all
    // before it are in: few encoded groups are held at once.
    for (let g = 0; g < groups; g++) {
      const [start, end] = bounds(g);
      const pending = encoded[g];
      const outcome =
        pending === undefined
          ? { group: encodeRowGroup(outputColumns, columnGroup(start, end), end - start) }
          : await pending;
      if ('error' in outcome) throw outcome.error;
      throwIfCancelled(signal);
      writer.appendEncoded(outcome.group);
      progress({ phase: 'writing', done: writer.rowsWritten, total: rowsRead });
    }
  }

  /** Writes the footer and moves the file into place. */
  finish(): void {
    this.writer.finish();
  }

  /** Removes the partial output. */
  abort(): void {
    this.writer.abort();
  }

  /** The frame's rows start..end-1 as the training set's columns. */
  private frameColumns(frame: EntityFrame, features: FrameFeatures): (start: number, end: number) => RowGroupColumn[] {
    const csv = this.plan.entityFile.format === 'csv';
    // Numeric entity columns as numbers once per frame: row groups then copy typed arrays (cheap to hand
    // to a worker) rather than arrays of values (bigints, from a Parquet file).
    const entityNumbers = new Map<number, { numbers: Float64Array; present: Uint8Array } | undefined>();
    const numericEntityColumn = (index: number) => {
      if (!entityNumbers.has(index)) {
        const type = this.entityTypes[index]!;
        entityNumbers.set(
          index,
          isNumberType(type) ? entityColumnNumbers(type, frame.columns[index]!, frame.length, csv) : undefined,
        );
      }
      return entityNumbers.get(index);
    };
    return (start, end) =>
      this.sources.map((source) => {
        if ('entity' in source) {
          const numeric = numericEntityColumn(source.entity);
          if (numeric !== undefined) return slice(numeric, start, end);
          const values = frame.columns[source.entity]!;
          const type = this.entityTypes[source.entity]!;
          const out = new Array<unknown>(end - start);
          for (let i = start; i < end; i++) out[i - start] = csv ? textAs(type, values[i]) : values[i];
          return { values: out };
        }
        return slice(features.get(source.view)![source.feature]!, start, end);
      });
  }
}

function sourceOf(plan: ExportPlan, column: OutputColumn): { entity: number } | { view: string; feature: number } {
  if (column.source === 'entity') return { entity: column.index };
  const view = plan.views.find((candidate) => candidate.definition.name === column.view)!;
  return { view: column.view, feature: view.features.findIndex((feature) => feature.name === column.feature) };
}

function slice(column: FeatureColumn, start: number, end: number): RowGroupColumn {
  return 'numbers' in column
    ? { numbers: column.numbers.slice(start, end), present: column.present.slice(start, end) }
    : { values: column.values.slice(start, end) };
}

/**
 * A numeric entity column as numbers and presence, when each value is a number (an integer type's a safe
 * integer) or a safe bigint — exactly what the training-set writer would write from the values; otherwise
 * undefined, and the values go to the writer as they are (which refuses what it cannot write, as before).
 */
function entityColumnNumbers(
  type: ValueType,
  values: readonly unknown[],
  length: number,
  csv: boolean,
): { numbers: Float64Array; present: Uint8Array } | undefined {
  const integer = type === 'int64' || type === 'timestamp';
  const numbers = new Float64Array(length);
  const present = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    const raw = csv ? textAs(type, values[i]) : values[i];
    if (raw === null || raw === undefined) continue;
    const value = typeof raw === 'bigint' && integer ? Number(raw) : raw;
    if (typeof value !== 'number' || (integer && !Number.isSafeInteger(value))) return undefined;
    numbers[i] = value;
    present[i] = 1;
  }
  return { numbers, present };
}
