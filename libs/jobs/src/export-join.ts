import type { FeatureValue } from '@featurelog/domain';
import { joinHistorySource, sortEntities, ViewWinners, type EntityColumns } from '@featurelog/pit';
import type { EntityFrame } from './entity-rows';
import type { ExportHistory } from './export-history';
import type { JoinPass, PlannedView } from './export-plan';
import { throwIfCancelled } from './job-cancellation';
import type { ProgressListener } from './job-progress';
import { SegmentQueue, type SegmentJoinPool, type ViewJoinSpec } from './segment-join-pool';
import { isNumberType } from './training-set-writer';
import type { HistorySource, ViewHistoryColumns } from './view-history-columns';

/** One feature's value for every row of a frame, in row order: numbers with presence, or values. */
export type FeatureColumn = { numbers: Float64Array; present: Uint8Array } | { values: FeatureValue[] };

/** View name → its requested features' columns, in the plan's feature order. */
export type FrameFeatures = ReadonlyMap<string, readonly FeatureColumn[]>;

export interface FrameJoinOptions {
  asServed: boolean;
  /** Sort the entity rows into shared memory, so that worker threads read them in place. */
  sharedEntities: boolean;
  progress: ProgressListener;
  signal: AbortSignal | undefined;
}

/**
 * The export's join stage, for one frame of entity rows. Per pass, the frame's rows are sorted by the
 * pass's key (rows without a key are left out and get nulls), and each view of the pass is joined point in
 * time into one winner per row ({@link joinView}); the winners are then laid out in the frame's row order,
 * with the TTL applied, ready to write.
 */
export async function joinFrame(
  frame: EntityFrame,
  passes: readonly JoinPass[],
  history: ExportHistory,
  pool: SegmentJoinPool | undefined,
  options: FrameJoinOptions,
): Promise<{ features: FrameFeatures; historyRows: number }> {
  const features = new Map<string, FeatureColumn[]>();
  let historyRows = 0;
  for (const pass of passes) {
    const keys = pass.keysOf(frame.columns, frame.length);
    const order = sortEntities(keys, frame.timestamps, { shared: options.sharedEntities });
    const entities: EntityColumns = { keys: order.keys, timestamps: order.timestamps };
    // The workers are sent a pass's entity rows once, when the first of its views gives them segments.
    let workersHaveEntities = false;
    const workersFor = (segments: number): SegmentJoinPool | undefined => {
      if (pool === undefined || segments <= 1) return undefined;
      if (!workersHaveEntities) pool.setEntities(entities);
      workersHaveEntities = true;
      return pool;
    };
    for (const view of pass.views) {
      const joined = await joinView(view, pass, entities, frame, history.of(view.definition.name), workersFor, options);
      historyRows += joined.historyRows;
      // The winners are kept by position in the pass's order; the writer takes rows in file order.
      features.set(view.definition.name, joined.winners.columnsInRowOrder(order, frame.length));
    }
  }
  return { features, historyRows };
}

/**
 * Joins one view's history into a winner per entity row of the pass. Each sorted source — a slice of the
 * log tail, a segment — is joined on its own, since the greatest of a union is the greatest of the
 * greatest of its parts: no merge. Worker threads take segments from a shared queue while this thread
 * joins the tail, then takes segments too; each thread keeps its own winners, merged at the end. Only
 * history that can match the frame is read: rows after its last time, or older than its first time's TTL
 * window, never can.
 */
async function joinView(
  view: PlannedView,
  pass: JoinPass,
  entities: EntityColumns,
  frame: EntityFrame,
  history: ViewHistoryColumns,
  workersFor: (segments: number) => SegmentJoinPool | undefined,
  { asServed, progress, signal }: FrameJoinOptions,
): Promise<{ winners: ViewWinners; historyRows: number }> {
  const { definition } = view;
  const spec: ViewJoinSpec = {
    features: view.features.map((feature) => feature.name),
    numeric: view.features.map((feature) => isNumberType(feature.type)),
    ttlSeconds: definition.ttlSeconds,
    keyForm: pass.keyForm,
    withAppendTime: asServed,
    asServed,
  };
  const winners = new ViewWinners(entities.keys.length, spec.features, spec.ttlSeconds, spec.numeric);
  const ttlMicros = definition.ttlSeconds * 1_000_000;
  const from = ttlMicros > 0 ? frame.minTimestamp - ttlMicros : Number.NEGATIVE_INFINITY;
  const to = frame.maxTimestamp;
  const tasks = history.segmentTasks(from, to);
  const phase = `joining ${definition.name}`;
  let done = 0;
  const total = tasks.length;
  const step = () => progress({ phase, done: ++done, total });
  progress({ phase, done, total });

  let historyRows = 0;
  const joinHere = async (source: HistorySource) => {
    const joined = await joinHistorySource(entities, source.chunks, winners, { source: source.label, asServed });
    historyRows += joined.historyRows;
  };
  const queue = new SegmentQueue(tasks);
  const workers = workersFor(tasks.length);
  // Settled rather than rejected: this thread's own failure is the one to report if both fail.
  const joining = workers?.joinView(spec, queue, step).then(
    (joined) => ({ joined }),
    (error: unknown) => ({ error }),
  );
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
    for (const data of outcome.joined.winners) winners.merge(data);
    historyRows += outcome.joined.historyRows;
  }
  return { winners, historyRows };
}
