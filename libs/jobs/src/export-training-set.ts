import { availableParallelism } from 'node:os';
import { FeaturelogError, type DefinitionSource, type ValueType } from '@featurelog/domain';
import type { KafkaDataSource } from '@featurelog/avro';
import { joinHistorySource, sortEntities, ViewWinners, type ColumnKey } from '@featurelog/pit';
import { EntityFrames, textAs } from './entity-rows';
import { planExport, type ExportPlan, type ExportRequest } from './export-plan';
import { SegmentJoinPool, SegmentQueue } from './segment-join-pool';
import { encodeRowGroup, TrainingSetWriter, type EncodedRowGroup, type RowGroupColumn } from './training-set-writer';
import { ViewHistoryColumns, type HistorySource } from './view-history-columns';
import type { HistorySources, Watermark } from './view-history';
import { throwIfCancelled } from './job-cancellation';
import {
  avroSegmentEventDecoder,
  columnKeyOf,
  keyFormOf,
  readSegmentCatalog,
  type KeyForm,
  type SegmentEventDecoder,
} from '@featurelog/offline-store';

export interface JobProgress {
  phase: string;
  done: number;
  total: number;
}

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
  const frameSize = options.entityRowsInMemory ?? 2_000_000;
  if (!Number.isInteger(frameSize) || frameSize < 1) {
    throw new FeaturelogError('EXPORT_INVALID_OPTION', `entityRowsInMemory ${frameSize} must be a positive integer`);
  }
  progress({ phase: 'planning', done: 0, total: 1 });
  const plan = await planExport(sources.project, request, definitions);
  const { signal } = options;
  throwIfCancelled(signal);
  const asServed = request.asServed ?? false;

  const catalog = await readSegmentCatalog(
    sources.log,
    sources.project,
    options.decodeSegmentEvent ?? avroSegmentEventDecoder(sources.schemas, sources.project),
  );
  const watermarks = new Map<string, Watermark>();
  await Promise.all(
    plan.views.map(async (view) =>
      watermarks.set(view.topic, await watermarkOf(sources, view.definition.name, view.topic, view.dataSource)),
    ),
  );

  const passes = groupPasses(plan);
  const histories = new Map<string, ViewHistoryColumns>();
  for (const pass of passes) {
    for (const view of pass.views) {
      throwIfCancelled(signal);
      histories.set(
        view.definition.name,
        await ViewHistoryColumns.open(sources, {
          view: view.definition,
          entities: view.entities,
          joinKeys: view.joinKeys,
          topic: view.topic,
          ...(view.dataSource === undefined ? {} : { dataSource: view.dataSource }),
          catalog,
          watermark: watermarks.get(view.topic)!,
          features: view.features.map((feature) => feature.name),
          keyForm: pass.keyForm,
          withAppendTime: asServed,
          tailRowsInMemory: options.tailRowsInMemory,
          onProgress: progress,
        }),
      );
    }
  }

  // This thread joins segments too: one worker per further core.
  const workers = options.workers ?? availableParallelism() - 1;
  // Started now, so the workers load while the entity rows are read.
  const pool =
    workers > 0 && [...histories.values()].some((history) => history.segments.length > 1)
      ? SegmentJoinPool.start(workers)
      : undefined;
  const rowGroupSize = options.rowGroupSize ?? 100_000;
  const frames = new EntityFrames(plan, frameSize);
  let writer: TrainingSetWriter | undefined;
  let historyRowsRead = 0;
  let frameCount = 0;
  try {
    const entityTypes = await frames.columnTypes();
    const csv = plan.entityFile.format === 'csv';
    writer = new TrainingSetWriter(
      request.output,
      plan.columns.map((column) =>
        column.source === 'entity' ? { name: column.name, type: entityTypes[column.index]! } : column,
      ),
    );
    for (let frame = await frames.next(progress); frame !== undefined; frame = await frames.next(progress)) {
      throwIfCancelled(signal);
      frameCount += 1;
      /** Per view: every feature's value per row of the frame, in row order. */
      const featureColumns = new Map<string, ReturnType<ViewWinners['columnsInRowOrder']>>();
      for (const pass of passes) {
        const keys = pass.keysOf(frame.columns, frame.length);
        const order = sortEntities(keys, frame.timestamps, { shared: workers > 0 });
        const entities = { keys: order.keys, timestamps: order.timestamps };
        let poolHasEntities = false;
        for (const view of pass.views) {
          const { definition } = view;
          const ttlMicros = definition.ttlSeconds * 1_000_000;
          const spec = {
            features: view.features.map((feature) => feature.name),
            numeric: view.features.map((feature) => NUMERIC.has(feature.type)),
            ttlSeconds: definition.ttlSeconds,
            keyForm: pass.keyForm,
            withAppendTime: asServed,
            asServed,
          };
          const won = new ViewWinners(order.keys.length, spec.features, spec.ttlSeconds, spec.numeric);
          const history = histories.get(definition.name)!;
          // Rows after the frame's last time, or older than its first one's TTL window, can never match.
          const from = ttlMicros > 0 ? frame.minTimestamp - ttlMicros : Number.NEGATIVE_INFINITY;
          const to = frame.maxTimestamp;
          const tasks = history.segmentTasks(from, to);
          const phase = `joining ${definition.name}`;
          let done = 0;
          const total = tasks.length;
          const step = () => progress({ phase, done: ++done, total });
          progress({ phase, done, total });
          const joinHere = async (source: HistorySource) => {
            const joined = await joinHistorySource(entities, source.chunks, won, { source: source.label, asServed });
            historyRowsRead += joined.historyRows;
          };
          const queue = new SegmentQueue(tasks);
          // Worker threads take segments from the queue; this thread joins the log tail, then takes
          // segments too. Each thread keeps its own winners, merged at the end (greatest of the greatest).
          let joining:
            Promise<{ joined: Awaited<ReturnType<SegmentJoinPool['joinView']>> } | { error: unknown }> | undefined;
          if (pool !== undefined && tasks.length > 1) {
            if (!poolHasEntities) pool.setEntities(entities);
            poolHasEntities = true;
            joining = pool.joinView(spec, queue, step).then(
              (joined) => ({ joined }),
              (error: unknown) => ({ error }),
            );
          }
          let failure: { error: unknown } | undefined;
          try {
            for await (const source of history.tailSources(from, to)) await joinHere(source);
            for (let task = queue.take(); task !== undefined; task = queue.take()) {
              throwIfCancelled(signal);
              await joinHere(history.segmentSource(task));
              step();
            }
          } catch (error) {
            failure = { error };
            queue.clear();
          }
          const outcome = await joining;
          if (failure !== undefined) throw failure.error;
          if (outcome !== undefined) {
            if ('error' in outcome) throw outcome.error;
            for (const data of outcome.joined.winners) won.merge(data);
            historyRowsRead += outcome.joined.historyRows;
          }
          // The winners are kept by position in the pass's order; the writer takes rows in file order.
          featureColumns.set(definition.name, won.columnsInRowOrder(order, frame.length));
        }
      }
      progress({ phase: 'writing', done: writer.rowsWritten, total: frames.rowCount });
      // Numeric entity columns as numbers once per frame: row groups then copy typed arrays (cheap to
      // hand to a worker) rather than arrays of values (bigints, from a Parquet file).
      const entityNumbers = new Map<number, { numbers: Float64Array; present: Uint8Array } | undefined>();
      const numericEntityColumn = (index: number) => {
        if (!entityNumbers.has(index)) {
          const type = entityTypes[index]!;
          entityNumbers.set(
            index,
            NUMERIC.has(type) ? entityColumnNumbers(type, frame.columns[index]!, frame.length, csv) : undefined,
          );
        }
        return entityNumbers.get(index);
      };
      const columnGroup = (start: number, end: number): RowGroupColumn[] =>
        plan.columns.map((column) => {
          if (column.source === 'entity') {
            const numeric = numericEntityColumn(column.index);
            if (numeric !== undefined) {
              return { numbers: numeric.numbers.slice(start, end), present: numeric.present.slice(start, end) };
            }
            const values = frame.columns[column.index]!;
            const type = entityTypes[column.index]!;
            const out = new Array<unknown>(end - start);
            for (let i = start; i < end; i++) out[i - start] = csv ? textAs(type, values[i]) : values[i];
            return { values: out };
          }
          const view = plan.views.find((candidate) => candidate.definition.name === column.view)!;
          const source = featureColumns.get(column.view)![view.features.findIndex((f) => f.name === column.feature)]!;
          return 'numbers' in source
            ? { numbers: source.numbers.slice(start, end), present: source.present.slice(start, end) }
            : { values: source.values.slice(start, end) };
        });
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
        progress({ phase: 'writing', done: writer.rowsWritten, total: frames.rowCount });
      }
    }
    throwIfCancelled(signal);
    writer.finish();
    const total = frames.rowCount;
    progress({ phase: 'writing', done: total, total });
    const all = [...histories.values()];
    return {
      output: request.output,
      rows: total,
      columns: plan.columns.map((column) => column.name),
      watermarks: Object.fromEntries([...watermarks].map(([topic, marks]) => [topic, Object.fromEntries(marks)])),
      segmentsRead: all.reduce((sum, history) => sum + history.segments.length, 0),
      segmentRows: all.reduce((sum, history) => sum + history.segmentRows, 0),
      tailRows: all.reduce((sum, history) => sum + history.tailRows, 0),
      undecodableTailRecords: all.reduce((sum, history) => sum + history.undecodableTailRecords, 0),
      historyRowsRead,
      entityFrames: frameCount,
      millis: Date.now() - started,
    };
  } catch (error) {
    writer?.abort();
    throw error;
  } finally {
    await frames.close();
    await pool?.close();
  }
}

/** Feature types held as numbers (timestamps are epoch µs). */
const NUMERIC = new Set<string>(['int32', 'int64', 'float32', 'float64', 'timestamp']);

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

/**
 * The captured catalog of a view topic is consistent with its high watermark, read right after it. A
 * managed topic not provisioned yet holds nothing; an existing topic that a data source names but that
 * does not exist is refused, since its segments could not be cut at a watermark.
 */
export async function watermarkOf(
  sources: Pick<HistorySources, 'log'>,
  view: string,
  topic: string,
  dataSource: KafkaDataSource | undefined,
): Promise<Watermark> {
  if ((await sources.log.describeTopic(topic)) === undefined) {
    if (dataSource === undefined) return new Map();
    throw new FeaturelogError(
      'SOURCE_TOPIC_MISSING',
      `feature view "${view}" reads topic ${topic} (data source "${dataSource.name}"), which does not exist`,
    );
  }
  return sources.log.endOffsets(topic);
}

interface Pass {
  keyName: string;
  keyForm: KeyForm;
  views: ExportPlan['views'];
  /** Each row's key in the pass's form; null when a join key is missing (the row matches nothing). */
  keysOf(columns: readonly unknown[][], length: number): ArrayLike<ColumnKey | null>;
}

function groupPasses(plan: ExportPlan): Pass[] {
  const passes = new Map<string, Pass>();
  for (const view of plan.views) {
    let pass = passes.get(view.keyName);
    if (pass === undefined) {
      const joinKeys = view.joinKeys;
      const keyForm = keyFormOf(joinKeys);
      const indexes = joinKeys.map((key) => plan.joinKeyColumns.get(key.name)!.index);
      const record: Record<string, unknown> = {};
      pass = {
        keyName: view.keyName,
        keyForm,
        views: [],
        keysOf: (columns, length) => {
          const keyColumns = indexes.map((index) => columns[index]!);
          if (keyForm === 'number') {
            // NaN marks a missing key (left out of the order).
            const keys = new Float64Array(length);
            const column = keyColumns[0]!;
            for (let i = 0; i < length; i++) {
              const value = column[i];
              keys[i] = value === null || value === undefined ? Number.NaN : (value as number);
            }
            return keys;
          }
          const keys = new Array<ColumnKey | null>(length);
          for (let i = 0; i < length; i++) {
            for (let k = 0; k < joinKeys.length; k++) record[joinKeys[k]!.name] = keyColumns[k]![i];
            keys[i] = columnKeyOf(keyForm, joinKeys, record);
          }
          return keys;
        },
      };
      passes.set(view.keyName, pass);
    }
    pass.views.push(view);
  }
  return [...passes.values()];
}
