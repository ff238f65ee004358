import { FeaturelogError, type FeatureValue } from '@featurelog/domain';
import { ClassicLevel } from 'classic-level';
import {
  validateProjectName,
  validateReadSelection,
  validateViewName,
  validateWriteBatch,
} from './online-batch-validation';
import {
  ONLINE_LAYOUT,
  type OnlineLayoutCheck,
  type OnlineReadRequest,
  type OnlineStore,
  type OnlineViewValue,
  type OnlineWriteBatch,
  type SelectedReadRequest,
  type StoredViewValue,
  type TopicPartitionOffset,
} from './online-store.port';
import { decodeStoredValue } from './stored-feature-value';
import {
  allStoredTexts,
  decodeNames,
  decodeVersion,
  encodeVersionDigits,
  encodeViewValue,
  storedSpansAt,
  versionBytes,
  viewValueParts,
} from './view-value';

export interface LevelOnlineStoreConfig {
  /** Directory of the database; created if missing. One process at a time may open it. */
  path: string;
}

/**
 * The embedded online store, for a single machine. Same contract and same stored values as the Redis
 * adapter (view-value.ts).
 *
 * Layout (keys in UTF-8; project and view hold no NUL, the entity key comes last so it may hold anything):
 *   `r\0<project>\0<view>\0<entityKey>` → the view's stored value (binary) — a view's rows are one
 *                                              range, so deleteView is a range delete
 *   `c\0<consumer>\0<topic>\0<partition>` → next offset
 *   `m\0layout` → ONLINE_LAYOUT (layout 1 stored a JSON array per row, without this mark)
 *
 * A batch is read-compare-write: one getMany for the stored versions, then one atomic level batch with
 * the winners and the checkpoint. Batches are serialized within the process, and classic-level's lock
 * keeps other processes out, so no write can slip between the read and the write. TTL is not applied:
 * rows are kept forever, which the contract allows (the store *may* forget expired rows).
 */
export class LevelOnlineStore implements OnlineStore {
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private layoutReady = false;

  private constructor(private readonly db: ClassicLevel<string, Buffer>) {}

  static async open({ path }: LevelOnlineStoreConfig): Promise<LevelOnlineStore> {
    const db = new ClassicLevel<string, Buffer>(path, { keyEncoding: 'utf8', valueEncoding: 'buffer' });
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
      if (!this.layoutReady) await this.ensureLayout();
      const keys = batch.rows.map((row) => rowKey(row.project, row.view, row.entityKey));
      const distinct = [...new Set(keys)];
      const stored = await this.db.getMany(distinct);
      const current = new Map<string, Buffer | null>();
      distinct.forEach((key, i) => current.set(key, stored[i] === undefined ? null : versionBytes(stored[i]!)));

      const winners = new Map<string, Buffer>();
      let won = 0;
      batch.rows.forEach((row, i) => {
        const key = keys[i]!;
        const before = current.get(key);
        const version = Buffer.from(encodeVersionDigits(row.version), 'latin1');
        // The digits order like compareRowVersions (view-value.ts): byte order is last-write-wins.
        if (before && version.compare(before) <= 0) return;
        current.set(key, version);
        winners.set(key, encodeViewValue(row));
        won++;
      });

      const operations: Array<{ type: 'put'; key: string; value: Buffer }> = [];
      for (const [key, value] of winners) operations.push({ type: 'put', key, value });
      const offsets = batch.checkpoint?.offsets ?? [];
      if (offsets.length > 0) {
        const { consumer } = batch.checkpoint!;
        const offsetKeys = offsets.map(({ topic, partition }) => checkpointKey(consumer, topic, partition));
        const storedOffsets = await this.db.getMany(offsetKeys);
        offsets.forEach(({ nextOffset }, i) => {
          // Forward only, as in Redis: a zombie's late batch never moves a checkpoint back.
          const before = storedOffsets[i];
          if (before !== undefined && Number(before.toString('latin1')) >= nextOffset) return;
          operations.push({ type: 'put', key: offsetKeys[i]!, value: Buffer.from(String(nextOffset), 'latin1') });
        });
      }
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
      offsets.push({ topic, partition: Number(partition), nextOffset: Number(value.toString('latin1')) });
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
    return requests.map((request) =>
      request.views.map((_, j) => {
        const value = decodeValue(stored[next++], request.features?.[j]);
        if (value === null) return null;
        const features: Record<string, FeatureValue> = {};
        value.names.forEach((name, k) => (features[name] = decodeStoredValue(value.stored[k]!)));
        return { version: value.version, features };
      }),
    );
  }

  async readStored(
    project: string,
    requests: readonly SelectedReadRequest[],
  ): Promise<Array<Array<StoredViewValue | null>>> {
    const stored = await this.getRows(project, requests);
    let next = 0;
    return requests.map((request) => request.views.map((_, j) => selectedSpans(stored[next++], request.features[j]!)));
  }

  async checkLayout(): Promise<OnlineLayoutCheck> {
    this.assertOpen();
    const check = await this.serialized(() => this.layoutCheck());
    if (check.current) this.layoutReady = true;
    return check;
  }

  async rebuildLayout(): Promise<void> {
    this.assertOpen();
    await this.serialized(async () => {
      await this.db.clear();
      await this.db.put(LAYOUT_KEY, Buffer.from(ONLINE_LAYOUT, 'latin1'));
      this.layoutReady = true;
    });
  }

  private async layoutCheck(): Promise<OnlineLayoutCheck> {
    const marked = await this.db.get(LAYOUT_KEY);
    if (marked !== undefined) {
      const layout = marked.toString('latin1');
      return layout === ONLINE_LAYOUT
        ? { current: true }
        : { current: false, found: `the layout mark says ${layout}, not ${ONLINE_LAYOUT}` };
    }
    for await (const key of this.db.keys({ limit: 1 })) {
      return {
        current: false,
        found: `records without a layout mark (layout 1: JSON rows), e.g. ${JSON.stringify(key)}`,
      };
    }
    await this.db.put(LAYOUT_KEY, Buffer.from(ONLINE_LAYOUT, 'latin1'));
    return { current: true };
  }

  /** Refuses reads and writes (ONLINE_STORE_REBUILDING, retriable) while the store is in another layout. */
  private async ensureLayout(): Promise<void> {
    const check = await this.layoutCheck();
    if (!check.current) {
      throw new FeaturelogError(
        'ONLINE_STORE_REBUILDING',
        `the embedded online store is not in layout ${ONLINE_LAYOUT} (${check.found}): the materializer rebuilds it from the log`,
        { retriable: true },
      );
    }
    this.layoutReady = true;
  }

  /** The stored rows of every (request, view), in order. */
  private async getRows(project: string, requests: readonly OnlineReadRequest[]): Promise<Array<Buffer | undefined>> {
    this.assertOpen();
    validateProjectName(project);
    if (!this.layoutReady) await this.serialized(() => this.ensureLayout());
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

const LAYOUT_KEY = 'm\0layout';

/** readStored's form of one stored value: where the `wanted` features' texts are in it; null for absent or deleted. */
function selectedSpans(value: Buffer | undefined, wanted: readonly string[]): StoredViewValue | null {
  if (value === undefined) return null;
  const parts = viewValueParts(value);
  if (parts.deleted) return null;
  const names = decodeNames(value, parts);
  const indices = Int32Array.from(wanted, (name) => names.indexOf(name));
  const spans = new Int32Array(2 * wanted.length);
  storedSpansAt(value, parts, indices, Math.max(-1, ...indices), spans, 0);
  return { version: decodeVersion(value, parts.versionEnd), bytes: value, spans, at: 0 };
}

/** Every stored text, or exactly those of `wanted` ('' where the row has none); null for absent or deleted. */
function decodeValue(
  value: Buffer | undefined,
  wanted: readonly string[] | undefined,
): { version: ReturnType<typeof decodeVersion>; names: readonly string[]; stored: string[] } | null {
  if (value === undefined) return null;
  const parts = viewValueParts(value);
  if (parts.deleted) return null;
  const names = decodeNames(value, parts);
  const texts = allStoredTexts(value, parts, names.length);
  const version = decodeVersion(value, parts.versionEnd);
  if (wanted === undefined) return { version, names, stored: texts };
  return {
    version,
    names: wanted,
    stored: wanted.map((name) => {
      const i = names.indexOf(name);
      return i < 0 ? '' : texts[i]!;
    }),
  };
}
