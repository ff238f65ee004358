import { FeaturelogError } from '@featurelog/domain';
import type { KafkaDataSource } from '@featurelog/avro';
import type { ExportPlan } from './export-plan';
import type { ProgressListener } from './job-progress';
import { throwIfCancelled } from './job-cancellation';
import { avroSegmentEventDecoder, readSegmentCatalog, type SegmentEventDecoder } from '@featurelog/offline-store';
import { ViewHistoryColumns } from './view-history-columns';
import type { HistorySources, Watermark } from './view-history';

export interface HistoryCaptureOptions {
  /** Also read when each history row was appended (the as-served option needs it). */
  withAppendTime: boolean;
  tailRowsInMemory: number | undefined;
  decodeSegmentEvent: SegmentEventDecoder | undefined;
  progress: ProgressListener;
  signal: AbortSignal | undefined;
}

/**
 * The export's second stage: the history of every planned view exactly as the log held it when the export
 * began. The segment catalog is read first, then each view topic's high watermark: segments only ever
 * cover offsets below it, so segments plus the log tail up to it are one consistent instant of the log.
 * Each view's live segments are verified here (a missing or corrupt file fails the export before any entity
 * row is read); their rows, and the tail's, are read later, once per frame, by the join.
 */
export class ExportHistory {
  private constructor(
    /** View topic → the high watermark the export is consistent with. */
    readonly watermarks: ReadonlyMap<string, Watermark>,
    private readonly views: ReadonlyMap<string, ViewHistoryColumns>,
  ) {}

  /** Opens the views pass by pass (the order the join reads them in), checking for a cancel before each. */
  static async capture(
    sources: HistorySources,
    plan: ExportPlan,
    options: HistoryCaptureOptions,
  ): Promise<ExportHistory> {
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
    const views = new Map<string, ViewHistoryColumns>();
    for (const pass of plan.passes) {
      for (const view of pass.views) {
        throwIfCancelled(options.signal);
        views.set(
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
            withAppendTime: options.withAppendTime,
            tailRowsInMemory: options.tailRowsInMemory,
            onProgress: options.progress,
          }),
        );
      }
    }
    return new ExportHistory(watermarks, views);
  }

  /** The history of a planned view. */
  of(view: string): ViewHistoryColumns {
    return this.views.get(view)!;
  }

  /** Whether some view has segments to share out among worker threads (more than one). */
  get hasSegmentsToShare(): boolean {
    return [...this.views.values()].some((history) => history.segments.length > 1);
  }

  /** What was read, for the export's result: tail counts are complete once every frame was joined. */
  totals(): { segmentsRead: number; segmentRows: number; tailRows: number; undecodableTailRecords: number } {
    const all = [...this.views.values()];
    return {
      segmentsRead: all.reduce((sum, history) => sum + history.segments.length, 0),
      segmentRows: all.reduce((sum, history) => sum + history.segmentRows, 0),
      tailRows: all.reduce((sum, history) => sum + history.tailRows, 0),
      undecodableTailRecords: all.reduce((sum, history) => sum + history.undecodableTailRecords, 0),
    };
  }
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
