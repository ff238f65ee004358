import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DefinitionSource, FeatureValue } from '@featurelog/domain';
import { entityRowOrder, pointInTimeJoin, PitJoinStats, type PitView } from '@featurelog/pit';
import { EntityRowDecoder, frameRowCodec, textAs, type FrameRow } from './entity-rows';
import { planExport, type ExportPlan, type ExportRequest } from './export-plan';
import { ExternalSorter } from './external-sorter';
import { avroSegmentEventDecoder, readSegmentCatalog, type SegmentEventDecoder } from './segment-catalog-reader';
import { TrainingSetWriter } from './training-set-writer';
import { openViewHistory, type HistorySources, type ViewHistory, type Watermark } from './view-history';

export interface JobProgress {
  phase: string;
  done: number;
  total: number;
}

export interface ExportOptions {
  /** Entity rows sorted in memory before sorted runs spill to disk. */
  entityRowsInMemory?: number;
  /** Log-tail rows per view sorted in memory before spilling. */
  tailRowsInMemory?: number;
  /** Parent of the export's temporary directory (sorted runs). */
  spillDirectory?: string;
  onProgress?: (progress: JobProgress) => void;
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
  spilledRuns: number;
  millis: number;
}

/**
 * A point-in-time training set, by replay (see ARCHITECTURE.md, "Semantics that must be exact").
 *
 * 1. Plan: resolve features, check the entity file's columns and output names (bad input fails here).
 * 2. Read the segment catalog, then capture each view topic's high watermark: the export is consistent
 *    with that instant of the log (segments only ever cover offsets below it).
 * 3. Read and validate every entity row, sorting them by the first pass's key (spilling if large).
 * 4. Per pass (views sharing join keys): merge each view's segments and sorted log tail and stream the
 *    point-in-time join over the sorted entity rows, feeding the next pass's sorter.
 * 5. Sort back into the file's row order and write Parquet.
 */
export async function exportTrainingSet(
  sources: HistorySources,
  definitions: DefinitionSource,
  request: ExportRequest,
  options: ExportOptions = {},
): Promise<ExportResult> {
  const started = Date.now();
  const progress = options.onProgress ?? (() => undefined);
  progress({ phase: 'planning', done: 0, total: 1 });
  const plan = await planExport(sources.project, request, definitions);

  const catalog = await readSegmentCatalog(
    sources.log,
    sources.project,
    options.decodeSegmentEvent ?? avroSegmentEventDecoder(sources.schemas, sources.project),
  );
  const watermarks = new Map<string, Watermark>();
  await Promise.all(plan.views.map(async (view) => watermarks.set(view.topic, await watermarkOf(sources, view.topic))));

  const scratch = await mkdtemp(join(options.spillDirectory ?? tmpdir(), 'featurelog-export-'));
  const sorters: ExternalSorter<FrameRow>[] = [];
  const newSorter = (compare: (a: FrameRow, b: FrameRow) => number) => {
    const sorter = new ExternalSorter<FrameRow>({
      compare,
      maxInMemory: options.entityRowsInMemory ?? 150_000,
      directory: scratch,
      frameCodec: frameRowCodec,
    });
    sorters.push(sorter);
    return sorter;
  };
  const histories: ViewHistory[] = [];
  const stats = new PitJoinStats();
  let writer: TrainingSetWriter | undefined;
  try {
    const passes = groupPasses(plan);
    const decoder = new EntityRowDecoder(plan);
    let sorter = newSorter(passes.length > 0 ? entityRowOrder(passes[0]!.keyName) : byRowIndex);
    for await (const raw of plan.entityFile.rows()) {
      await sorter.add(decoder.decode(raw));
      progress({ phase: 'reading entity rows', done: decoder.rowCount, total: decoder.rowCount });
    }
    const total = decoder.rowCount;

    for (const [p, pass] of passes.entries()) {
      const views: PitView[] = [];
      for (const view of pass.views) {
        const ttlMicros = view.definition.ttlSeconds * 1_000_000;
        const history = await openViewHistory(sources, {
          view: view.definition,
          entities: view.entities,
          joinKeys: view.joinKeys,
          topic: view.topic,
          catalog,
          watermark: watermarks.get(view.topic)!,
          // Rows after the last entity time, or older than the first one's TTL window, can never match.
          eventTimeFrom: ttlMicros > 0 ? decoder.minTimestamp - ttlMicros : -Infinity,
          eventTimeTo: decoder.maxTimestamp,
          tailRowsInMemory: options.tailRowsInMemory,
          spillDirectory: scratch,
          onProgress: progress,
        });
        histories.push(history);
        views.push({
          name: view.definition.name,
          ttlSeconds: view.definition.ttlSeconds,
          features: view.features.map((feature) => feature.name),
          history: history.rows,
        });
      }
      const next = newSorter(p + 1 < passes.length ? entityRowOrder(passes[p + 1]!.keyName) : byRowIndex);
      const phase = `joining ${pass.views.map((view) => view.definition.name).join(', ')}`;
      let done = 0;
      for await (const joined of pointInTimeJoin(sorter.sorted(), {
        keyName: pass.keyName,
        views,
        asServed: request.asServed ?? false,
        stats,
      })) {
        await next.add(joined as FrameRow[]);
        done += joined.length;
        progress({ phase, done, total });
      }
      await sorter.close();
      sorter = next;
    }

    const entityTypes = decoder.columnTypes();
    const csv = plan.entityFile.format === 'csv';
    writer = new TrainingSetWriter(
      request.output,
      plan.columns.map((column) =>
        column.source === 'entity' ? { name: column.name, type: entityTypes[column.index]! } : column,
      ),
    );
    const row: unknown[] = new Array(plan.columns.length);
    const write = (frame: FrameRow) => {
      for (let c = 0; c < plan.columns.length; c++) {
        const column = plan.columns[c]!;
        if (column.source === 'entity') {
          const value = frame.values[column.index];
          row[c] = csv ? textAs(entityTypes[column.index]!, value) : value;
        } else {
          row[c] = (frame.features?.[column.view]?.[column.feature] ?? null) as FeatureValue;
        }
      }
      writer!.write(row);
    };
    const unsorted = sorter.takeUnsorted();
    if (unsorted !== undefined) {
      // Everything fits in memory: rows go back to their place by index, no sort needed.
      const ordered = new Array<FrameRow>(total);
      for (const frame of unsorted) ordered[frame.rowIndex] = frame;
      unsorted.length = 0;
      for (let i = 0; i < total; i++) {
        write(ordered[i]!);
        if ((i & 0xffff) === 0xffff) progress({ phase: 'writing', done: i + 1, total });
      }
    } else {
      for await (const batch of sorter.sorted()) {
        for (const frame of batch) write(frame);
        progress({ phase: 'writing', done: writer.rowsWritten, total });
      }
    }
    writer.finish();
    progress({ phase: 'writing', done: total, total });
    return {
      output: request.output,
      rows: total,
      columns: plan.columns.map((column) => column.name),
      watermarks: Object.fromEntries([...watermarks].map(([topic, marks]) => [topic, Object.fromEntries(marks)])),
      segmentsRead: histories.reduce((sum, history) => sum + history.segments.length, 0),
      segmentRows: histories.reduce((sum, history) => sum + history.segmentRows, 0),
      tailRows: histories.reduce((sum, history) => sum + history.tailRows, 0),
      undecodableTailRecords: histories.reduce((sum, history) => sum + history.undecodableTailRecords, 0),
      historyRowsRead: stats.historyRowsRead,
      spilledRuns: sorters.reduce((sum, sorter) => sum + sorter.spilledRuns, 0),
      millis: Date.now() - started,
    };
  } catch (error) {
    writer?.abort();
    throw error;
  } finally {
    await Promise.all(histories.map((history) => history.close()));
    await Promise.all(sorters.map((sorter) => sorter.close()));
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The captured catalog of a view topic is consistent with its high watermark, read right after it. */
async function watermarkOf(sources: HistorySources, topic: string): Promise<Watermark> {
  if ((await sources.log.describeTopic(topic)) === undefined) return new Map();
  return sources.log.endOffsets(topic);
}

function byRowIndex(a: FrameRow, b: FrameRow): number {
  return a.rowIndex - b.rowIndex;
}

interface Pass {
  keyName: string;
  views: ExportPlan['views'];
}

function groupPasses(plan: ExportPlan): Pass[] {
  const passes = new Map<string, Pass>();
  for (const view of plan.views) {
    const pass = passes.get(view.keyName) ?? { keyName: view.keyName, views: [] };
    pass.views.push(view);
    passes.set(view.keyName, pass);
  }
  return [...passes.values()];
}
