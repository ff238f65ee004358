import { join } from 'node:path';
import type { FeatureValue } from '@featurelog/domain';
import {
  columnKeyOf,
  readSegmentColumns,
  type KeyForm,
  type SegmentRow,
  type SegmentSchema,
  type SegmentWritten,
} from '@featurelog/offline-store';
import type { ColumnKey, HistoryColumns } from '@featurelog/pit';
import type { SegmentJoinTask } from './segment-join-pool';
import { selectViewSegments, tailViewOf, type HistorySources, type ViewHistoryOptions } from './view-history';
import { ViewTail } from './view-tail';

export interface ViewHistoryColumnsOptions extends ViewHistoryOptions {
  /** The features joined, in the order of each chunk's feature columns. */
  features: readonly string[];
  keyForm: KeyForm;
  /** Also read when each row was appended (as served). */
  withAppendTime?: boolean;
}

/** One sorted source of a view's history: a segment, or one sorted slice of the log tail. */
export interface HistorySource {
  label: string;
  chunks: AsyncIterable<HistoryColumns> | Iterable<HistoryColumns>;
}

/**
 * A view's history exactly as the log held it at the watermark (see openViewHistory), as separately sorted
 * sources instead of one merged stream: each live segment as it lies on disk (one row group of columns at
 * a time), then the uncompacted log tail in sorted slices of at most `tailRowsInMemory` rows. Nothing is
 * merged or spilled; a point-in-time join takes the greatest candidate over the sources
 * (joinHistorySource). `sources()` can be iterated more than once (once per frame of entity rows).
 */
export class ViewHistoryColumns {
  tailRows = 0;
  undecodableTailRecords = 0;

  private constructor(
    private readonly store: HistorySources,
    private readonly options: ViewHistoryColumnsOptions,
    readonly segments: SegmentWritten[],
    private readonly segmentSchemas: Map<string, SegmentSchema>,
    private readonly tailFrom: Map<number, number>,
  ) {}

  static async open(sources: HistorySources, options: ViewHistoryColumnsOptions): Promise<ViewHistoryColumns> {
    const { segments, segmentSchemas, tailFrom } = await selectViewSegments(sources, options);
    return new ViewHistoryColumns(sources, options, segments, segmentSchemas, tailFrom);
  }

  get segmentRows(): number {
    return this.segments.reduce((sum, segment) => sum + segment.rowCount, 0);
  }

  /**
   * The segments whose rows may fall in [from, to] (event time, µs, inclusive), newest first: a row's
   * winner then usually comes first and later sources rarely need to copy values.
   */
  segmentTasks(from = Number.NEGATIVE_INFINITY, to = Number.POSITIVE_INFINITY): SegmentJoinTask[] {
    const { watermark } = this.options;
    return this.segments
      .filter((segment) => !(segment.minEventTime! > to || segment.maxEventTime! < from))
      .sort((a, b) => b.maxEventTime! - a.maxEventTime!)
      .map((segment) => {
        const pastWatermark = segment.ranges.some((range) => range.untilOffset > (watermark.get(range.partition) ?? 0));
        return {
          path: join(this.store.offlineRoot, segment.path),
          schema: this.segmentSchemas.get(segment.segmentId)!,
          keep: pastWatermark ? [...watermark] : null,
        };
      });
  }

  /** A segment task as a source read in this thread. */
  segmentSource(task: SegmentJoinTask): HistorySource {
    const { features, keyForm, withAppendTime } = this.options;
    const until = task.keep === null ? undefined : new Map(task.keep);
    return {
      label: task.path,
      chunks: readSegmentColumns(task.path, task.schema, {
        features,
        keyForm,
        withAppendTime,
        keep: until === undefined ? undefined : (partition, offset) => offset < (until.get(partition) ?? 0),
      }),
    };
  }

  /** The uncompacted log tail (rows in [from, to]) in sorted slices of at most `tailRowsInMemory` rows. */
  tailSources(from = Number.NEGATIVE_INFINITY, to = Number.POSITIVE_INFINITY): AsyncGenerator<HistorySource> {
    return this.tailSlices(
      Math.max(from, this.options.eventTimeFrom ?? from),
      Math.min(to, this.options.eventTimeTo ?? to),
    );
  }

  /**
   * The log from where the segments' coverage ends up to the watermark, decoded as the compactor decodes
   * it (see ViewTail: a managed topic or an existing one with its data source's mapping), in sorted slices.
   */
  private async *tailSlices(from: number, to: number): AsyncGenerator<HistorySource> {
    const { view, watermark, joinKeys, features, keyForm } = this.options;
    const limit = this.options.tailRowsInMemory ?? 500_000;
    const tail = new ViewTail(this.store, {
      view: tailViewOf(this.store, this.options),
      watermark,
      tailFrom: this.tailFrom,
      forStore: this.options.forStore ?? 'offline',
      ...(this.options.onProgress === undefined ? {} : { onProgress: this.options.onProgress }),
    });
    if (tail.records === 0) return;
    let slices = 0;
    let tailRows = 0;
    let slice = new TailSlice(features.length);
    for await (const rows of tail.rows()) {
      for (const row of rows) {
        if (row.eventTimestamp < from || row.eventTimestamp > to) continue;
        const key =
          columnKeyOf(keyForm, joinKeys, row.joinKeys) ?? (keyForm === 'number' ? Number.NEGATIVE_INFINITY : '');
        slice.push(key, row, features);
        tailRows += 1;
        if (slice.length >= limit) {
          yield { label: `the log tail of ${view.name} (slice ${++slices})`, chunks: [slice.sorted()] };
          slice = new TailSlice(features.length);
        }
      }
    }
    if (slice.length > 0) yield { label: `the log tail of ${view.name} (slice ${++slices})`, chunks: [slice.sorted()] };
    this.tailRows = tailRows;
    this.undecodableTailRecords = tail.unreadable.length;
  }
}

/** Tail rows gathered as columns, then put in history order by one sort of their row numbers. */
class TailSlice {
  length = 0;
  private readonly keys: ColumnKey[] = [];
  private readonly events: number[] = [];
  private readonly created: number[] = [];
  private readonly partitions: number[] = [];
  private readonly offsets: number[] = [];
  private readonly appended: number[] = [];
  private readonly sourcePositions: (string | null)[] = [];
  private withSourcePositions = false;
  private readonly features: FeatureValue[][];

  constructor(width: number) {
    this.features = Array.from({ length: width }, () => []);
  }

  push(key: ColumnKey, row: SegmentRow, names: readonly string[]): void {
    this.keys.push(key);
    this.events.push(row.eventTimestamp);
    this.created.push(row.createdTimestamp ?? Number.NEGATIVE_INFINITY);
    this.partitions.push(row.partition);
    this.offsets.push(row.offset);
    this.appended.push(row.appendTime);
    this.sourcePositions.push(row.sourcePosition ?? null);
    if (row.sourcePosition !== undefined) this.withSourcePositions = true;
    for (let f = 0; f < names.length; f++) this.features[f]!.push(row.features[names[f]!] ?? null);
    this.length += 1;
  }

  sorted(): HistoryColumns {
    const { keys, events, created, partitions, offsets } = this;
    const order = new Uint32Array(this.length);
    for (let i = 0; i < order.length; i++) order[i] = i;
    order.sort((a, b) => {
      const ka = keys[a]!;
      const kb = keys[b]!;
      if (ka !== kb) return ka < kb ? -1 : 1;
      if (events[a] !== events[b]) return events[a]! - events[b]!;
      if (created[a] !== created[b]) return created[a]! < created[b]! ? -1 : 1;
      if (partitions[a] !== partitions[b]) return partitions[a]! - partitions[b]!;
      return offsets[a]! - offsets[b]!;
    });
    const gather = <T>(column: T[]): T[] => Array.from(order, (i) => column[i]!);
    const numbers = (column: number[]) => Float64Array.from(order, (i) => column[i]!);
    return {
      length: this.length,
      keys: gather(keys),
      eventTimestamps: numbers(events),
      createdTimestamps: numbers(created),
      partitions: numbers(partitions),
      offsets: numbers(offsets),
      appendedAt: numbers(this.appended),
      sourcePositions: this.withSourcePositions ? gather(this.sourcePositions) : null,
      features: this.features.map(gather),
      featureValue: null,
    };
  }
}
