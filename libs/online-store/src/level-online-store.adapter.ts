import { compareRowVersions, FeaturelogError, type FeatureValue, type RowVersion } from '@featurelog/domain';
import { ClassicLevel } from 'classic-level';
import {
  validateProjectName,
  validateReadSelection,
  validateViewName,
  validateWriteBatch,
} from './online-batch-validation';
import type {
  OnlineReadRequest,
  OnlineStore,
  OnlineViewValue,
  OnlineWriteBatch,
  SelectedReadRequest,
  StoredViewValue,
  TopicPartitionOffset,
} from './online-store.port';
import { decodeStoredValue, encodeStoredValue } from './stored-feature-value';

export interface LevelOnlineStoreConfig {
  /** Directory of the database; created if missing. One process at a time may open it. */
  path: string;
}

/**
 * `[eventTs, createdTs, partition, offset, { feature: stored form }]` — see encodeStoredValue; the values
 * are null for a deleted row (read as absent, its version kept for last-write-wins).
 */
type StoredRow = [number, number | null, number, number, Record<string, string> | null];

/**
 * The embedded online store, for a single machine. Same contract as the Redis adapter.
 *
 * Layout (utf8 keys; project and view hold no NUL, the entity key comes last so it may hold anything):
 *   `r\0<project>\0<view>\0<entityKey>` → JSON StoredRow    — a view's rows are one range, so
 *                                                              deleteView is a range delete
 *   `c\0<consumer>\0<topic>\0<partition>` → next offset
 *
 * A batch is read-compare-write: one getMany for the stored versions, then one atomic level batch with
 * the winners and the checkpoint. Batches are serialized within the process, and classic-level's lock
 * keeps other processes out, so no write can slip between the read and the write. TTL is not applied:
 * rows are kept forever, which the contract allows (the store *may* forget expired rows).
 */
export class LevelOnlineStore implements OnlineStore {
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(private readonly db: ClassicLevel<string, string>) {}

  static async open({ path }: LevelOnlineStoreConfig): Promise<LevelOnlineStore> {
    const db = new ClassicLevel<string, string>(path, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
    try {
      await db.open();
    } catch (error) {
      // Most often LEVEL_LOCKED: another process holds the directory and may let go of it.
      throw new FeaturelogError('ONLINE_STORE_UNAVAILABLE', `cannot open the embedded online store at ${path}`, {
        retriable: true,
        cause: error,
      });
    }
    return new LevelOnlineStore(db);
  }

  async writeBatch(batch: OnlineWriteBatch): Promise<number> {
    this.assertOpen();
    validateWriteBatch(batch);
    return await this.serialized(async () => {
      const keys = batch.rows.map((row) => rowKey(row.project, row.view, row.entityKey));
      const stored = await this.db.getMany([...new Set(keys)]);
      const current = new Map<string, RowVersion | null>();
      [...new Set(keys)].forEach((key, i) => current.set(key, versionOf(stored[i])));

      const winners = new Map<string, string>();
      let won = 0;
      batch.rows.forEach((row, i) => {
        const key = keys[i]!;
        const before = current.get(key);
        if (before && compareRowVersions(row.version, before) <= 0) return;
        current.set(key, row.version);
        winners.set(key, encodeRow(row.version, row.deleted === true ? null : row.features));
        won++;
      });

      const operations: Array<{ type: 'put'; key: string; value: string }> = [];
      for (const [key, value] of winners) operations.push({ type: 'put', key, value });
      const offsets = batch.checkpoint?.offsets ?? [];
      const offsetKeys = offsets.map(({ topic, partition }) =>
        checkpointKey(batch.checkpoint!.consumer, topic, partition),
      );
      const storedOffsets = offsetKeys.length === 0 ? [] : await this.db.getMany(offsetKeys);
      offsets.forEach(({ nextOffset }, i) => {
        // Forward only (see OnlineCheckpoint): an older writer never moves an offset back.
        const before = storedOffsets[i];
        if (before !== undefined && nextOffset <= Number(before)) return;
        operations.push({ type: 'put', key: offsetKeys[i]!, value: String(nextOffset) });
      });
      if (operations.length > 0) await this.db.batch(operations);
      return won;
    });
  }

  async readCheckpoint(consumer: string): Promise<TopicPartitionOffset[]> {
    this.assertOpen();
    const prefix = `c\0${consumer}\0`;
    const offsets: TopicPartitionOffset[] = [];
    for await (const [key, value] of this.db.iterator({ gte: prefix, lt: `c\0${consumer}\x01` })) {
      const [topic, partition] = key.slice(prefix.length).split('\0') as [string, string];
      offsets.push({ topic, partition: Number(partition), nextOffset: Number(value) });
    }
    return offsets.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
  }

  async deleteCheckpoint(consumer: string, topics?: readonly string[]): Promise<void> {
    this.assertOpen();
    await this.serialized(async () => {
      if (topics === undefined) {
        await this.db.clear({ gte: `c\0${consumer}\0`, lt: `c\0${consumer}\x01` });
        return;
      }
      for (const topic of topics) {
        await this.db.clear({ gte: `c\0${consumer}\0${topic}\0`, lt: `c\0${consumer}\0${topic}\x01` });
      }
    });
  }

  async read(project: string, requests: readonly OnlineReadRequest[]): Promise<Array<Array<OnlineViewValue | null>>> {
    const stored = await this.getRows(project, requests);
    let next = 0;
    return requests.map((request) => request.views.map((_, j) => decodeRow(stored[next++], request.features?.[j])));
  }

  async readStored(
    project: string,
    requests: readonly SelectedReadRequest[],
  ): Promise<Array<Array<StoredViewValue | null>>> {
    const stored = await this.getRows(project, requests);
    let next = 0;
    return requests.map((request) =>
      request.views.map((_, j) => {
        const text = stored[next++];
        if (text === undefined) return null;
        const [eventTimestamp, createdTimestamp, partition, offset, values] = JSON.parse(text) as StoredRow;
        if (values === null) return null;
        return {
          version: { eventTimestamp, createdTimestamp, position: { partition, offset } },
          stored: request.features[j]!.map((name) => (Object.hasOwn(values, name) ? values[name]! : '')),
        };
      }),
    );
  }

  /** The stored rows of every (request, view), in order. */
  private async getRows(project: string, requests: readonly OnlineReadRequest[]): Promise<Array<string | undefined>> {
    this.assertOpen();
    validateProjectName(project);
    const keys: string[] = [];
    for (const request of requests) {
      validateReadSelection(request.views, request.features);
      for (const view of request.views) keys.push(rowKey(project, view, request.entityKey));
    }
    return keys.length === 0 ? [] : await this.db.getMany(keys);
  }

  async deleteView(project: string, view: string): Promise<number> {
    this.assertOpen();
    validateProjectName(project);
    validateViewName(view);
    return await this.serialized(async () => {
      const range = { gte: `r\0${project}\0${view}\0`, lt: `r\0${project}\0${view}\x01` };
      let removed = 0;
      for await (const _key of this.db.keys(range)) removed++;
      await this.db.clear(range);
      return removed;
    });
  }

  async ping(): Promise<void> {
    if (this.closed || this.db.status !== 'open') {
      throw new FeaturelogError('ONLINE_STORE_UNAVAILABLE', `embedded online store is ${this.db.status}`, {
        retriable: !this.closed,
      });
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue.catch(() => undefined);
    await this.db.close();
  }

  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const result = this.queue.then(work, work);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private assertOpen(): void {
    if (this.closed) throw new FeaturelogError('ONLINE_STORE_CLOSED', 'the embedded online store was closed');
  }
}

function rowKey(project: string, view: string, entityKey: string): string {
  return `r\0${project}\0${view}\0${entityKey}`;
}

function checkpointKey(consumer: string, topic: string, partition: number): string {
  return `c\0${consumer}\0${topic}\0${partition}`;
}

/** A deleted row (null features) is stored with its version and null values: read as absent. */
function encodeRow(version: RowVersion, features: Record<string, FeatureValue> | null): string {
  let values: Record<string, string> | null = null;
  if (features !== null) {
    values = {};
    for (const name of Object.keys(features)) values[name] = encodeStoredValue(features[name] ?? null);
  }
  const row: StoredRow = [
    version.eventTimestamp,
    version.createdTimestamp,
    version.position.partition,
    version.position.offset,
    values,
  ];
  return JSON.stringify(row);
}

function versionOf(text: string | undefined): RowVersion | null {
  if (text === undefined) return null;
  const [eventTimestamp, createdTimestamp, partition, offset] = JSON.parse(text) as StoredRow;
  return { eventTimestamp, createdTimestamp, position: { partition, offset } };
}

/** Every stored feature, or exactly `wanted` (null where the row has none). */
function decodeRow(text: string | undefined, wanted: readonly string[] | undefined): OnlineViewValue | null {
  if (text === undefined) return null;
  const [eventTimestamp, createdTimestamp, partition, offset, values] = JSON.parse(text) as StoredRow;
  if (values === null) return null;
  const features: Record<string, FeatureValue> = {};
  for (const name of wanted ?? Object.keys(values)) {
    const stored = Object.hasOwn(values, name) ? values[name] : undefined;
    features[name] = stored === undefined ? null : decodeStoredValue(stored);
  }
  return { version: { eventTimestamp, createdTimestamp, position: { partition, offset } }, features };
}
