import { availableParallelism } from 'node:os';
import { FeaturelogError, type DefinitionSource } from '@featurelog/domain';
import { EntityFrames } from './entity-rows';
import { ExportHistory } from './export-history';
import { joinFrame } from './export-join';
import { planExport, type ExportRequest } from './export-plan';
import { TrainingSetOutput } from './export-write';
import { throwIfCancelled } from './job-cancellation';
import type { JobProgress } from './job-progress';
import type { SegmentEventDecoder } from '@featurelog/offline-store';
import { SegmentJoinPool } from './segment-join-pool';
import type { HistorySources } from './view-history';

export type { JobProgress } from './job-progress';

export interface ExportOptions {
  /** Entity rows joined per frame, in memory; a longer file is joined frame by frame (history re-read per frame). */
  entityRowsInMemory?: number;
  /** Log-tail rows per view sorted in memory at once; a longer tail is joined in sorted slices. */
  tailRowsInMemory?: number;
  /** Rows per row group of the training set. */
  rowGroupSize?: number;
  /** Worker threads joining segments beside this one; 0 joins them all here. Default: one per further core. */
  workers?: number;
  onProgress?: (progress: JobProgress) => void;
  /** Cancels the export: it stops within a stage (a view, a segment, a row group) and removes its temporary file. */
  signal?: AbortSignal;
  /** How `<project>.segments` records decode; default the compactor's Avro serde. */
  decodeSegmentEvent?: SegmentEventDecoder;
}

export interface ExportResult {
  output: string;
  rows: number;
  columns: string[];
  /** Per view topic: the high watermark the export is consistent with. */
  watermarks: Record<string, Record<number, number>>;
  segmentsRead: number;
  segmentRows: number;
  tailRows: number;
  undecodableTailRecords: number;
  historyRowsRead: number;
  /** Frames of entity rows joined (more than one when the file exceeds entityRowsInMemory). */
  entityFrames: number;
  millis: number;
}

/**
 * A point-in-time training set, by replay (see ARCHITECTURE.md, "Semantics that must be exact"), in stages:
 *
 * 1. Plan ({@link planExport}): resolve the features, check the entity file's columns and the output names
 *    (bad input fails here), group the views into join passes by their keys.
 * 2. Capture the history ({@link ExportHistory.capture}): the segment catalog, then each view topic's high
 *    watermark — the export is consistent with that instant of the log.
 * 3. Read the entity rows ({@link EntityFrames}), a frame of at most `entityRowsInMemory` rows at a time.
 * 4. Join each frame ({@link joinFrame}): per pass, the frame sorted by the pass's key; per view, every
 *    segment and sorted slice of the log tail joined point in time, across worker threads.
 * 5. Write each frame ({@link TrainingSetOutput}) in the file's row order, as Parquet row groups.
 *
 * Cancelling (`signal`) stops it within a stage, and a failure or a cancel leaves no output behind.
 */
export async function exportTrainingSet(
  sources: HistorySources,
  definitions: DefinitionSource,
  request: ExportRequest,
  options: ExportOptions = {},
): Promise<ExportResult> {
  const started = Date.now();
  const settings = exportSettings(request, options);
  const { progress, signal } = settings;
  progress({ phase: 'planning', done: 0, total: 1 });
  const plan = await planExport(sources.project, request, definitions);
  throwIfCancelled(signal);
  const history = await ExportHistory.capture(sources, plan, settings);
  // Started now, so that the workers load while the entity rows are read.
  const pool = settings.workers > 0 && history.hasSegmentsToShare ? SegmentJoinPool.start(settings.workers) : undefined;
  const frames = new EntityFrames(plan, settings.entityRowsInMemory);
  let output: TrainingSetOutput | undefined;
  let historyRowsRead = 0;
  let frameCount = 0;
  try {
    output = new TrainingSetOutput(plan, await frames.columnTypes(), pool, settings);
    for (let frame = await frames.next(progress); frame !== undefined; frame = await frames.next(progress)) {
      throwIfCancelled(signal);
      frameCount += 1;
      const joined = await joinFrame(frame, plan.passes, history, pool, settings);
      historyRowsRead += joined.historyRows;
      await output.writeFrame(frame, joined.features, frames.rowCount);
    }
    throwIfCancelled(signal);
    output.finish();
    const rows = frames.rowCount;
    progress({ phase: 'writing', done: rows, total: rows });
    return {
      output: request.output,
      rows,
      columns: plan.columns.map((column) => column.name),
      watermarks: Object.fromEntries(
        [...history.watermarks].map(([topic, marks]) => [topic, Object.fromEntries(marks)]),
      ),
      ...history.totals(),
      historyRowsRead,
      entityFrames: frameCount,
      millis: Date.now() - started,
    };
  } catch (error) {
    output?.abort();
    throw error;
  } finally {
    await frames.close();
    await pool?.close();
  }
}

/** The options with their defaults, checked: what each stage reads its settings from. */
function exportSettings(request: ExportRequest, options: ExportOptions) {
  const entityRowsInMemory = options.entityRowsInMemory ?? 2_000_000;
  if (!Number.isInteger(entityRowsInMemory) || entityRowsInMemory < 1) {
    throw new FeaturelogError(
      'EXPORT_INVALID_OPTION',
      `entityRowsInMemory ${entityRowsInMemory} must be a positive integer`,
    );
  }
  // This thread joins segments too: one worker per further core.
  const workers = options.workers ?? availableParallelism() - 1;
  const asServed = request.asServed ?? false;
  return {
    entityRowsInMemory,
    tailRowsInMemory: options.tailRowsInMemory,
    rowGroupSize: options.rowGroupSize ?? 100_000,
    workers,
    sharedEntities: workers > 0,
    asServed,
    withAppendTime: asServed,
    decodeSegmentEvent: options.decodeSegmentEvent,
    progress: options.onProgress ?? (() => undefined),
    signal: options.signal,
  };
}
