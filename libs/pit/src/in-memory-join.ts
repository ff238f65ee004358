import { FeaturelogError } from '@featurelog/domain';
import { type EntityRow, type PitView, restoreRowOrder, sortEntityRows } from './pit-rows';
import { pointInTimeJoin, PitJoinStats } from './point-in-time-join';

/** A view together with the entity key (a name in {@link EntityRow.entityKeys}) it is keyed by. */
export interface KeyedPitView extends PitView {
  keyName: string;
}

export interface InMemoryJoinOptions {
  asServed?: boolean;
  /** Entity rows per batch handed to each pass. */
  batchSize?: number;
  stats?: PitJoinStats;
}

/** Streams an array as batches of at most `batchSize` items. */
export async function* streamBatches<T>(items: readonly T[], batchSize = 4096): AsyncGenerator<T[]> {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new FeaturelogError('PIT_INVALID_BATCH_SIZE', `batchSize ${batchSize} must be a positive integer.`);
  }
  for (let start = 0; start < items.length; start += batchSize) yield items.slice(start, start + batchSize);
}

/**
 * The whole point-in-time join for a frame small enough to sort in memory: one streaming pass per
 * entity key (views sharing a key share a pass), the frame re-sorted by that key before each pass,
 * and the original order restored at the end. A frame too large for memory follows the same sequence
 * with a spill-to-disk sorter in place of {@link sortEntityRows}; the history is streamed either way.
 */
export async function pointInTimeJoinInMemory(
  entityRows: readonly EntityRow[],
  views: readonly KeyedPitView[],
  { asServed = false, batchSize = 4096, stats = new PitJoinStats() }: InMemoryJoinOptions = {},
): Promise<EntityRow[]> {
  const passes = new Map<string, KeyedPitView[]>();
  for (const view of views) {
    const pass = passes.get(view.keyName);
    if (pass) pass.push(view);
    else passes.set(view.keyName, [view]);
  }
  let rows: EntityRow[] = [...entityRows];
  for (const [keyName, passViews] of passes) {
    const joined: EntityRow[] = [];
    const input = streamBatches(sortEntityRows(rows, keyName), batchSize);
    for await (const batch of pointInTimeJoin(input, { keyName, views: passViews, asServed, stats })) {
      for (const row of batch) joined.push(row);
    }
    rows = joined;
  }
  return restoreRowOrder(rows);
}
