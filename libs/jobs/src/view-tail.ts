import { RowDecoder, type SchemaRegistryPort } from '@featurelog/avro';
import type { EventLog } from '@featurelog/log';
import { SegmentRowReader, type OfflineView, type SegmentRow } from '@featurelog/offline-store';
import type { UnreadableRecord } from '@featurelog/view-rows';

export interface ViewTailOptions {
  /** The view as the compactor reads it: its topic and, for an existing topic, its data source. */
  view: OfflineView;
  /** Partition → offset: the high watermark captured when the job started. */
  watermark: ReadonlyMap<number, number>;
  /** Partition → first offset not covered by the live segments (absent: 0). */
  tailFrom: ReadonlyMap<number, number>;
  /** Which store the rows are for: decides which pushed rows are left out (see SegmentRowReader.open). */
  forStore?: 'offline' | 'online';
  onProgress?: (progress: { phase: string; done: number; total: number }) => void;
}

/**
 * The uncompacted tail of a view's log, from where the segments' coverage ends up to the watermark,
 * decoded exactly as the compactor decodes the records it writes into segments (SegmentRowReader): a
 * managed topic with its writer schema resolved to the view's row schema, an existing topic with its
 * writer schema and the data source's field mapping and timestamp fields. So a row reads the same whether
 * an export finds it in a segment or in the tail, and records the compactor leaves out of segments
 * (tombstones, poison, pushes for the other store) are left out of the tail too — the poison ones counted
 * in `unreadable`.
 */
export class ViewTail {
  readonly unreadable: UnreadableRecord[] = [];
  readonly ranges: { partition: number; from: number; until: number }[];
  /** Records (offsets) in the tail, readable or not. */
  readonly records: number;

  constructor(
    private readonly sources: { log: EventLog; schemas: SchemaRegistryPort; project: string },
    private readonly options: ViewTailOptions,
  ) {
    this.ranges = [...options.watermark]
      .map(([partition, until]) => ({ partition, from: options.tailFrom.get(partition) ?? 0, until }))
      .filter((range) => range.from < range.until);
    this.records = this.ranges.reduce((sum, range) => sum + range.until - range.from, 0);
  }

  /** The tail's rows in log order, one batch of records at a time. */
  async *rows(): AsyncGenerator<SegmentRow[]> {
    if (this.records === 0) return;
    const { view } = this.options;
    const reader = SegmentRowReader.open(view, this.sources.schemas, this.sources.project, {
      forStore: this.options.forStore ?? 'offline',
    });
    const decoder = new RowDecoder(this.sources.schemas);
    const progress = this.options.onProgress ?? (() => undefined);
    const phase = `reading the log tail of ${view.definition.name}`;
    const total = this.records;
    let done = 0;
    progress({ phase, done, total });
    for (const { partition, from, until } of this.ranges) {
      for await (const records of this.sources.log.read(view.topic, partition, from, {
        untilOffset: until,
        maxBatch: 10_000,
      })) {
        const rows = await reader.read(decoder, records, this.unreadable);
        yield rows.filter((row): row is SegmentRow => row !== null);
        done += records.length;
        progress({ phase, done, total });
      }
    }
  }
}
