import {
  compareRowVersions,
  FeaturelogError,
  onlineStatus,
  type FeatureValue,
  type RowVersion,
} from '@featurelog/domain';
import type { OnlineStore, OnlineViewValue } from '@featurelog/online-store';
import type { FeatureRowFeed, FeedListener, FeedPosition, FeedRow } from './feature-row-feed.port';
import { timestampJson } from './json-values';
import { DEFAULT_MAX_ENTITY_ROWS, parseEntities, parseSelection, type OnlineFeaturesRequest } from './online-request';
import { storeRequests } from './online-retrieval';
import type { CatalogSource, PlanColumn, RetrievalPlan, ServingCatalog, ServingView } from './serving-catalog';

/** Where a subscription's Server-Sent Events go (the raw HTTP response, or a test double). */
export interface EventSink {
  /** False when the transport's buffer is full: wait for `drain` before writing more. */
  write(text: string): boolean;
  once(event: 'drain', listener: () => void): void;
  end(): void;
}

export interface SubscriptionLimits {
  /** Events waiting for a slow subscriber; one more and it gets `resync` and a fresh snapshot. */
  maxQueuedEvents?: number;
  /** A comment line this often keeps idle connections (and proxies) open. */
  heartbeatMs?: number;
  maxEntityRows?: number;
}

export const DEFAULT_MAX_QUEUED_EVENTS = 10_000;
export const DEFAULT_HEARTBEAT_MS = 15_000;

interface Interest {
  slot: number;
  view: ServingView;
  columns: PlanColumn[];
  /** Entity key → the first entity row that asked for it (its join key values are echoed). */
  rows: Map<string, number>;
}

/** The `resync` reason sent when the registry changed what a subscription reads. */
export const REGISTRY_CHANGED = 'registry changed';

/**
 * One subscriber: the current values first (`snapshot`), then every newer row of its entities as
 * the feed delivers it (`update`), never a version older than or equal to one it was already sent.
 *
 * No gap: the feed is followed BEFORE the snapshot is read (and starts from what the online store
 * holds, see FeatureRowFeed). The newest row the feed gave for each (view, entity) is kept, and after
 * every snapshot those newer than the snapshot's versions are sent: the feed can run ahead of the
 * materializer, so a snapshot alone may be older than rows already seen.
 * No silent loss: at most `maxQueuedEvents` events wait for a slow reader; past that the queue is
 * dropped and the subscriber gets `resync` (with the reason) followed by a fresh snapshot, sent
 * once it reads again.
 * Follows the registry: when a definition it reads changes, it is planned again and sent `resync`
 * (reason `registry changed`) and a fresh snapshot; when its service, a view or a feature it reads
 * is gone, the stream ends with a non-retriable `error`.
 *
 * Resumable: every event carries an `id:`, where the stream stands in the log (streamPositionId: per
 * topic it reads, the next offset of each partition), once the subscriber holds exactly the latest
 * version, among the records before it, of each (view, entity). A reconnect with that id as
 * `Last-Event-ID` gets no snapshot but the updates it missed: the rows from that position on, each
 * once, in log order, those newer than what it holds (the online store's value, when it is from
 * before the position), then the live ones. An id that cannot be served (malformed, of other topics
 * than this subscription reads, past a partition's end, or more than the feed re-reads) gets a
 * `reset` event with the reason, then a fresh snapshot. An event sent before the stream's position is
 * exact (a snapshot holding a row the stream has not passed yet, or one followed by updates that
 * complete it) carries an empty `id:`, which makes the client forget its id.
 */
export class FeatureSubscription {
  private interests = new Map<string, Interest>();
  private readonly delivered = new Map<string, RowVersion>();
  private readonly queue: string[] = [];
  private readonly maxQueued: number;
  /** The newest row the feed gave per (view, entity) of interest: bounded by the interest. */
  private readonly latest = new Map<string, FeedRow>();
  /** Until the first snapshot (and during a resync), rows are only kept in `latest`. */
  private buffering = true;
  private writable = true;
  private resyncReason: string | undefined;
  private snapshotting = false;
  private closed = false;
  private unfollows: Array<() => void> = [];
  /** Where the stream stands: topic → partition → next offset. Every record before it is accounted for. */
  private positions = new Map<string, Map<number, number>>();
  /** After a snapshot that holds rows the positions have not passed: ids are empty until they have. */
  private exactFrom: Map<string, Map<number, number>> | undefined;
  /** While a resume replays: events wait in the queue until every view's position was accepted. */
  private holding = false;
  /** Set while the updates completing a snapshot are queued, all but the last. */
  private withholdId = false;
  /** The start and re-plans run one after another. */
  private replanning: Promise<void> = Promise.resolve();
  private heartbeat: NodeJS.Timeout | undefined;
  /** How many times this subscriber was resynchronized (for tests and metrics). */
  resyncs = 0;

  constructor(
    private readonly deps: {
      project: string;
      store: OnlineStore;
      feed: FeatureRowFeed;
      nowMicros: () => number;
      onClose?: () => void;
    },
    private plan: RetrievalPlan,
    readonly request: OnlineFeaturesRequest,
    private readonly sink: EventSink,
    limits: SubscriptionLimits = {},
    /** The client's `Last-Event-ID`, when it reconnects. */
    private readonly lastEventId?: string,
  ) {
    this.maxQueued = limits.maxQueuedEvents ?? DEFAULT_MAX_QUEUED_EVENTS;
    this.interests = interestsOf(plan, request);
    const heartbeatMs = limits.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    this.heartbeat = setInterval(() => {
      if (this.queue.length === 0 && this.writable) this.send(': keep-alive\n\n');
    }, heartbeatMs);
    this.heartbeat.unref();
  }

  get registryVersion(): number {
    return this.plan.registryVersion;
  }

  /** Follows every view, then sends the snapshot and whatever arrived meanwhile (or resumes from `lastEventId`). */
  start(): Promise<void> {
    // Re-plans wait for the start, so they never follow views alongside it.
    const run = this.replanning.then(async () => {
      if (this.lastEventId !== undefined && (await this.resume(this.lastEventId))) return;
      if (this.closed) return;
      this.unfollows = await this.followAll();
      if (!this.closed) await this.snapshot();
    });
    this.replanning = run.catch(() => undefined);
    return run;
  }

  /**
   * The registry moved: `next` is this subscription's selection planned again (or why it cannot be).
   * Nothing visible happens unless what it reads changed.
   */
  registryChanged(next: RetrievalPlan | FeaturelogError): Promise<void> {
    const run = this.replanning.then(() => this.replan(next));
    this.replanning = run.catch(() => undefined);
    return run;
  }

  private async replan(next: RetrievalPlan | FeaturelogError): Promise<void> {
    if (this.closed) return;
    let interests: Map<string, Interest>;
    try {
      if (next instanceof FeaturelogError) throw next;
      if (samePlan(this.plan, next)) {
        this.plan = next;
        return;
      }
      interests = interestsOf(next, this.request);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      this.fail(
        new FeaturelogError(
          error instanceof FeaturelogError ? error.code : 'SUBSCRIPTION_FAILED',
          `the registry changed and this subscription can no longer be served: ${reason}`,
        ),
        false,
      );
      return;
    }
    // Queued rows belong to the old plan: the fresh snapshot replaces them.
    this.buffering = true;
    this.queue.length = 0;
    this.plan = next;
    this.interests = interests;
    // The new plan's views are followed afresh: where the stream stands is theirs from here on.
    const topics = new Set([...interests.values()].map((interest) => interest.view.topic));
    for (const topic of [...this.positions.keys()]) if (!topics.has(topic)) this.positions.delete(topic);
    for (const [key, row] of this.latest) {
      if (this.interests.get(row.view)?.rows.has(row.entityKey) !== true) this.latest.delete(key);
    }
    // The new views are followed before the old ones are left, so tails they share keep running.
    const previous = this.unfollows;
    this.unfollows = [];
    try {
      this.unfollows = await this.followAll();
    } catch (error) {
      this.fail(error instanceof Error ? error : new Error(String(error)));
    } finally {
      for (const unfollow of previous) unfollow();
    }
    if (this.closed) return;
    this.resyncReason = REGISTRY_CHANGED;
    this.pump();
  }

  /**
   * Resumes from the client's last event id: true when the missed updates are on their way, false
   * after a `reset` event (a fresh start follows).
   */
  private async resume(lastEventId: string): Promise<boolean> {
    const from = parseStreamPosition(lastEventId);
    const topics = new Set([...this.interests.values()].map((interest) => interest.view.topic));
    let reason: string;
    if (from === undefined) {
      reason = `Last-Event-ID ${JSON.stringify(lastEventId.slice(0, 80))} is not a stream position`;
    } else if (from.size !== topics.size || [...topics].some((topic) => !from.has(topic))) {
      reason = `Last-Event-ID is a position in ${[...from.keys()].join(', ')}, and this subscription reads ${[...topics].join(', ')}`;
    } else {
      try {
        // What the subscriber holds of each entity, as far as the store can tell: its value, when it
        // is from before the position (a later one may be among the rows replayed).
        const keys = [...this.interests.values()].flatMap((interest) =>
          [...interest.rows.keys()].map((entityKey) => ({ interest, entityKey })),
        );
        const values = await this.deps.store.read(
          this.deps.project,
          keys.map(({ interest, entityKey }) => ({ entityKey, views: [interest.view.name] })),
        );
        if (this.closed) return true;
        keys.forEach(({ interest, entityKey }, i) => {
          const held = values[i]?.[0]?.version;
          const position = held?.position;
          const next = position === undefined ? undefined : from.get(interest.view.topic)?.get(position.partition);
          if (held !== undefined && next !== undefined && position!.offset < next) {
            this.delivered.set(`${interest.view.name}\u0000${entityKey}`, held);
          }
        });
        this.positions = new Map([...from].map(([topic, partitions]) => [topic, new Map(partitions)]));
        this.holding = true;
        this.buffering = false;
        this.unfollows = await this.followAll(from);
        this.holding = false;
        // The stream (and its headers) starts now even when nothing was missed.
        if (this.queue.length === 0) this.send(': resumed\n\n');
        this.pump();
        return true;
      } catch (error) {
        if (!(error instanceof FeaturelogError && error.code === 'RESUME_POSITION_UNAVAILABLE')) throw error;
        reason = error.message;
        this.holding = false;
        this.buffering = true;
        this.queue.length = 0;
        this.resyncReason = undefined;
        this.delivered.clear();
        this.latest.clear();
        this.positions.clear();
      }
    }
    this.send(`event: reset\ndata: ${JSON.stringify({ reason })}\nid:\n\n`);
    return false;
  }

  private async followAll(from?: ReadonlyMap<string, ReadonlyMap<number, number>>): Promise<Array<() => void>> {
    // A listener of its own per plan: leaving the old plan's views must not remove the new one's.
    const listener: FeedListener = {
      rows: (rows, position) => this.onRows(rows, position),
      failed: (error) => this.fail(error),
    };
    const unfollows: Array<() => void> = [];
    try {
      for (const interest of this.interests.values()) {
        unfollows.push(await this.deps.feed.follow(interest.view, listener, from?.get(interest.view.topic)));
        if (this.closed) break;
      }
    } catch (error) {
      for (const unfollow of unfollows) unfollow();
      throw error;
    }
    if (this.closed) {
      for (const unfollow of unfollows) unfollow();
      return [];
    }
    return unfollows;
  }

  /** Ends the stream too (server shutdown): the client reconnects elsewhere and resnapshots. */
  end(): void {
    this.close();
    this.sink.end();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    for (const unfollow of this.unfollows) unfollow();
    this.unfollows = [];
    this.queue.length = 0;
    this.latest.clear();
    this.deps.onClose?.();
  }

  private onRows(rows: readonly FeedRow[], position?: FeedPosition): void {
    if (this.closed) return;
    for (const row of rows) {
      const interest = this.interests.get(row.view);
      if (interest === undefined) continue;
      // An update's id says the stream stands right after its row.
      this.advance(interest.view.topic, row.version.position.partition, row.version.position.offset + 1);
      if (!interest.rows.has(row.entityKey)) continue;
      const key = `${row.view}\u0000${row.entityKey}`;
      const known = this.latest.get(key);
      if (known !== undefined && compareHeldVersions(row.version, known.version) <= 0) continue;
      this.latest.set(key, row);
      if (!this.buffering) this.consider(interest, row);
    }
    if (position !== undefined) this.advance(position.topic, position.partition, position.nextOffset);
  }

  private advance(topic: string, partition: number, nextOffset: number): void {
    let partitions = this.positions.get(topic);
    if (partitions === undefined) {
      if (![...this.interests.values()].some((interest) => interest.view.topic === topic)) return;
      partitions = new Map();
      this.positions.set(topic, partitions);
    }
    if ((partitions.get(partition) ?? -1) < nextOffset) partitions.set(partition, nextOffset);
  }

  /** The `id:` line of the next event: where the stream stands, or empty while that is not exact. */
  private idLine(): string {
    if (this.withholdId) return 'id:\n';
    if (this.exactFrom !== undefined) {
      for (const [topic, partitions] of this.exactFrom) {
        for (const [partition, next] of partitions) {
          if ((this.positions.get(topic)?.get(partition) ?? -1) < next) return 'id:\n';
        }
      }
      this.exactFrom = undefined;
    }
    return `id: ${streamPositionId(this.positions)}\n`;
  }

  private consider(interest: Interest, row: FeedRow): void {
    const key = `${row.view}\u0000${row.entityKey}`;
    const sent = this.delivered.get(key);
    if (sent !== undefined && compareHeldVersions(row.version, sent) <= 0) return;
    this.delivered.set(key, row.version);
    if (this.queue.length >= this.maxQueued) {
      this.overflow(
        `${this.queue.length} events were waiting for this subscriber (maxQueuedEvents = ${this.maxQueued}); updates were dropped`,
      );
      return;
    }
    this.queue.push(
      `event: update\ndata: ${
        row.deleted === true
          ? deletedRowJson(interest, row.entityKey, this.request, row.version)
          : rowJson(interest, row.entityKey, this.request, row.version, row.row, this.deps.nowMicros())
      }\n${this.idLine()}\n`,
    );
    this.pump();
  }

  private overflow(reason: string): void {
    this.queue.length = 0;
    this.resyncReason = reason;
    this.resyncs++;
    // From here on rows are only kept, and resolved against the fresh snapshot.
    this.buffering = true;
    this.pump();
  }

  private pump(): void {
    if (this.holding) return;
    while (this.writable && this.queue.length > 0 && !this.closed) this.send(this.queue.shift()!);
    if (this.writable && this.resyncReason !== undefined && !this.snapshotting && !this.closed) {
      const reason = this.resyncReason;
      this.resyncReason = undefined;
      this.send(`event: resync\ndata: ${JSON.stringify({ reason })}\nid:\n\n`);
      void this.snapshot().catch((error: unknown) => this.fail(error as Error));
    }
  }

  private send(text: string): void {
    if (this.sink.write(text)) return;
    this.writable = false;
    this.sink.once('drain', () => {
      this.writable = true;
      this.pump();
    });
  }

  private async snapshot(): Promise<void> {
    this.snapshotting = true;
    try {
      const now = this.deps.nowMicros();
      const interests = [...this.interests.values()];
      const keys = interests.flatMap((interest) =>
        [...interest.rows.keys()].map((entityKey) => ({ interest, entityKey })),
      );
      const values = await this.deps.store.read(
        this.deps.project,
        keys.map(({ interest, entityKey }) => ({ entityKey, views: [interest.view.name] })),
      );
      if (this.closed) return;
      this.delivered.clear();
      // Rows of the store the stream has not passed yet: its ids wait until it has.
      const exactFrom = new Map<string, Map<number, number>>();
      const rows = keys.map(({ interest, entityKey }, i) => {
        const value: OnlineViewValue | null = values[i]?.[0] ?? null;
        if (value !== null) {
          this.delivered.set(`${interest.view.name}\u0000${entityKey}`, value.version);
          const { partition, offset } = value.version.position;
          const partitions = exactFrom.get(interest.view.topic) ?? new Map<number, number>();
          exactFrom.set(interest.view.topic, partitions);
          partitions.set(partition, Math.max(partitions.get(partition) ?? 0, offset + 1));
        }
        return value === null
          ? rowJson(interest, entityKey, this.request, null, null, now)
          : rowJson(interest, entityKey, this.request, value.version, value.features, now);
      });
      const featureNames = JSON.stringify(this.plan.columns.map((column) => column.name));
      // The snapshot replaces everything queued before it, and is never dropped for being late.
      this.queue.length = 0;
      this.exactFrom = exactFrom;
      // Rows the feed gave that are newer than the snapshot complete it, as updates right after it:
      // until the last of them, the subscriber does not hold the stream's position yet.
      const completing = [...this.latest.values()].filter((row) => {
        const sent = this.delivered.get(`${row.view}\u0000${row.entityKey}`);
        return this.interests.has(row.view) && (sent === undefined || compareHeldVersions(row.version, sent) > 0);
      });
      this.queue.push(
        `event: snapshot\ndata: {"registry_version":${this.plan.registryVersion},"feature_names":${featureNames},"rows":[${rows.join(',')}]}\n${completing.length > 0 ? 'id:\n' : this.idLine()}\n`,
      );
      this.buffering = false;
      completing.forEach((row, i) => {
        this.withholdId = i < completing.length - 1;
        this.consider(this.interests.get(row.view)!, row);
      });
      this.withholdId = false;
      this.pump();
    } finally {
      this.snapshotting = false;
    }
    // A re-plan may have asked for another snapshot while this one was read.
    if (this.resyncReason !== undefined) this.pump();
  }

  private fail(error: Error, retriable = true): void {
    if (this.closed) return;
    const code = error instanceof FeaturelogError ? error.code : 'SUBSCRIPTION_FAILED';
    const message = retriable ? `updates stopped: ${error.message}; reconnect to resume` : error.message;
    this.queue.length = 0;
    this.send(`event: error\ndata: ${JSON.stringify({ code, message, retriable })}\n\n`);
    this.close();
    this.sink.end();
  }
}

/**
 * compareRowVersions, except that source positions decide only between two versions that both have one.
 * Versions read from the online store may lack it (a store whose version encoding keeps none, or a row
 * stored before it had one), and the very row the store holds, seen again on the feed with its source
 * position, must compare equal to it rather than newer (it would be sent again after every snapshot).
 */
function compareHeldVersions(a: RowVersion, b: RowVersion): number {
  if ((a.sourcePosition === undefined) === (b.sourcePosition === undefined)) return compareRowVersions(a, b);
  const { sourcePosition: _a, ...withoutA } = a;
  const { sourcePosition: _b, ...withoutB } = b;
  return compareRowVersions(withoutA, withoutB);
}

/**
 * A stream position as an SSE event id: per topic (sorted), `topic:partition=nextOffset,…`, joined
 * by `;`, e.g. `p.features.driver_stats.v1:0=42,1=17`. Topic names have no `:`, `;`, `,` or `=`.
 */
export function streamPositionId(positions: ReadonlyMap<string, ReadonlyMap<number, number>>): string {
  return [...positions.keys()]
    .sort()
    .map((topic) => {
      const partitions = [...positions.get(topic)!].sort(([a], [b]) => a - b);
      return `${topic}:${partitions.map(([partition, next]) => `${partition}=${next}`).join(',')}`;
    })
    .join(';');
}

const TOPIC_POSITION = /^([A-Za-z0-9._-]+):(\d{1,9}=\d{1,16}(?:,\d{1,9}=\d{1,16})*)$/;

/** The inverse of streamPositionId; undefined for anything that is not one. */
export function parseStreamPosition(id: string): Map<string, Map<number, number>> | undefined {
  if (id === '' || id.length > 16_384) return undefined;
  const positions = new Map<string, Map<number, number>>();
  for (const part of id.split(';')) {
    const match = TOPIC_POSITION.exec(part);
    if (match === null || positions.has(match[1]!)) return undefined;
    const partitions = new Map<number, number>();
    for (const pair of match[2]!.split(',')) {
      const [partition, next] = pair.split('=').map(Number) as [number, number];
      if (partitions.has(partition) || !Number.isSafeInteger(next)) return undefined;
      partitions.set(partition, next);
    }
    positions.set(match[1]!, partitions);
  }
  return positions;
}

function interestsOf(plan: RetrievalPlan, request: OnlineFeaturesRequest): Map<string, Interest> {
  const interests = new Map<string, Interest>();
  const reads = storeRequests(plan, request);
  plan.slots.forEach((slot, s) => {
    const rows = new Map<string, number>();
    for (let i = 0; i < request.rowCount; i++) {
      const key = reads[i * plan.groups.length + slot.group]!.entityKey;
      if (!rows.has(key)) rows.set(key, i);
    }
    interests.set(slot.view.name, {
      slot: s,
      view: slot.view,
      columns: plan.columns.filter((column) => column.slot === s),
      rows,
    });
  });
  return interests;
}

/** Whether two plans read the same columns from the same definitions (definitions are replaced, never mutated). */
function samePlan(a: RetrievalPlan, b: RetrievalPlan): boolean {
  if (a.columns.length !== b.columns.length || a.slots.length !== b.slots.length) return false;
  const sameView = (x: ServingView, y: ServingView) =>
    x.definition === y.definition &&
    x.source === y.source &&
    x.entities.length === y.entities.length &&
    x.entities.every((entity, i) => entity === y.entities[i]);
  return (
    a.slots.every((slot, i) => sameView(slot.view, b.slots[i]!.view)) &&
    a.columns.every((column, i) => column.name === b.columns[i]!.name && column.feature === b.columns[i]!.feature)
  );
}

/**
 * One (entity, view) of a subscription:
 * `{"view","entity_key","entity":{join keys},"status","event_timestamp","version":{event_timestamp,
 * created_timestamp,partition,offset[,source_position]},"values":{feature: value}}`; NOT_FOUND has null
 * version and values (see deletedRowJson for a delete's).
 */
function rowJson(
  interest: Interest,
  entityKey: string,
  request: OnlineFeaturesRequest,
  version: RowVersion | null,
  features: Record<string, FeatureValue> | null,
  nowMicros: number,
): string {
  const head = rowHead(interest, entityKey, request);
  if (version === null || features === null) {
    return `${head},"status":"NOT_FOUND","event_timestamp":null,"version":null,"values":null}`;
  }
  const status = onlineStatus(version, interest.view.ttlSeconds, nowMicros);
  let values = '';
  for (const column of interest.columns) {
    values += `${values === '' ? '' : ','}${JSON.stringify(column.name)}:${column.encode(features[column.feature.name])}`;
  }
  return `${head},"status":"${status}","event_timestamp":${timestampJson(version.eventTimestamp)},"version":${versionJson(version)},"values":{${values}}}`;
}

/**
 * The update of an entity whose values of the view a delete (change data capture) removed: NOT_FOUND with
 * null values and event timestamp, as POST /get-online-features answers for it from then on, and
 * `"deleted":true`. It keeps the delete's version, so that a subscriber keeping the newest version per
 * (view, entity) lets no older row bring the values back, and takes the next upsert.
 */
function deletedRowJson(
  interest: Interest,
  entityKey: string,
  request: OnlineFeaturesRequest,
  version: RowVersion,
): string {
  return `${rowHead(interest, entityKey, request)},"status":"NOT_FOUND","event_timestamp":null,"version":${versionJson(version)},"values":null,"deleted":true}`;
}

function rowHead(interest: Interest, entityKey: string, request: OnlineFeaturesRequest): string {
  const row = interest.rows.get(entityKey)!;
  const entity: Record<string, unknown> = {};
  for (const key of interest.view.joinKeys) entity[key.name] = request.entities[key.name]?.[row];
  return `{"view":${JSON.stringify(interest.view.name)},"entity_key":${JSON.stringify(entityKey)},"entity":${JSON.stringify(entity)}`;
}

function versionJson(version: RowVersion): string {
  const source =
    version.sourcePosition === undefined ? '' : `,"source_position":${JSON.stringify(version.sourcePosition)}`;
  return `{"event_timestamp":${version.eventTimestamp},"created_timestamp":${version.createdTimestamp ?? 'null'},"partition":${version.position.partition},"offset":${version.position.offset}${source}}`;
}

/** GET /subscribe query: `feature_service` or `features` (repeated or comma-separated), `entities` (JSON), `full_feature_names`. */
export function parseSubscribeQuery(
  query: Record<string, string | string[] | undefined>,
  maxEntityRows = DEFAULT_MAX_ENTITY_ROWS,
): OnlineFeaturesRequest {
  const single = (name: string): string | undefined => {
    const value = query[name];
    if (Array.isArray(value))
      throw new FeaturelogError('INVALID_REQUEST', `query parameter "${name}" is given more than once`);
    return value;
  };
  const featuresParam = query.features;
  const features =
    featuresParam === undefined
      ? undefined
      : (Array.isArray(featuresParam) ? featuresParam : [featuresParam])
          .flatMap((text) => text.split(','))
          .filter((t) => t !== '');
  const selection = parseSelection(features, single('feature_service'));
  const entitiesText = single('entities');
  if (entitiesText === undefined) {
    throw new FeaturelogError(
      'INVALID_REQUEST',
      'query parameter "entities" is required: JSON like {"driver_id":[1001,1002]}',
    );
  }
  let entities: unknown;
  try {
    entities = JSON.parse(entitiesText);
  } catch (error) {
    throw new FeaturelogError(
      'INVALID_REQUEST',
      `query parameter "entities" is not valid JSON: ${(error as Error).message}`,
    );
  }
  const full = single('full_feature_names');
  if (full !== undefined && full !== 'true' && full !== 'false') {
    throw new FeaturelogError(
      'INVALID_REQUEST',
      `query parameter "full_feature_names" must be true or false, got "${full}"`,
    );
  }
  const { rows, order, rowCount } = parseEntities(entities, maxEntityRows);
  return { selection, entities: rows, joinKeyOrder: order, rowCount, fullFeatureNames: full === 'true' };
}

/** Opens subscriptions against the current registry version; counts the open ones. */
export class FeatureSubscriptions {
  private readonly open = new Set<FeatureSubscription>();

  constructor(
    private readonly options: {
      project: string;
      store: OnlineStore;
      feed: FeatureRowFeed;
      catalogs: CatalogSource;
      limits?: SubscriptionLimits;
      nowMicros?: () => number;
      /** Registers a listener called when the registry changes (RegistryFollower.onChange); returns its remover. */
      registryChanges?: (listener: () => void) => () => void;
    },
  ) {
    this.stopListening = options.registryChanges?.(() => this.scheduleReplan());
  }

  private readonly stopListening: (() => void) | undefined;
  private replanScheduled = false;

  get active(): number {
    return this.open.size;
  }

  /** Parses and plans before anything is written, so a bad request still gets a 4xx. */
  prepare(
    query: Record<string, string | string[] | undefined>,
    sink: EventSink,
    lastEventId?: string,
  ): FeatureSubscription {
    const request = parseSubscribeQuery(query, this.options.limits?.maxEntityRows);
    const plan = this.options.catalogs.current().plan(request.selection, request.fullFeatureNames);
    const subscription: FeatureSubscription = new FeatureSubscription(
      {
        project: this.options.project,
        store: this.options.store,
        feed: this.options.feed,
        nowMicros: this.options.nowMicros ?? (() => Date.now() * 1_000),
        onClose: () => this.open.delete(subscription),
      },
      plan,
      request,
      sink,
      this.options.limits,
      lastEventId === '' ? undefined : lastEventId,
    );
    this.open.add(subscription);
    return subscription;
  }

  closeAll(): void {
    this.stopListening?.();
    for (const subscription of [...this.open]) subscription.end();
  }

  /** One re-plan per burst of registry events (an apply folds as one changeset, a catch-up as many). */
  private scheduleReplan(): void {
    if (this.replanScheduled) return;
    this.replanScheduled = true;
    setImmediate(() => {
      this.replanScheduled = false;
      let catalog: ServingCatalog;
      try {
        catalog = this.options.catalogs.current();
      } catch {
        // A registry with holes is not served: subscriptions keep their plans until it is whole again.
        return;
      }
      for (const subscription of this.open) {
        if (subscription.registryVersion === catalog.version) continue;
        let next: RetrievalPlan | FeaturelogError;
        try {
          next = catalog.plan(subscription.request.selection, subscription.request.fullFeatureNames);
        } catch (error) {
          next =
            error instanceof FeaturelogError
              ? error
              : new FeaturelogError('SUBSCRIPTION_FAILED', String(error), { cause: error });
        }
        void subscription.registryChanged(next);
      }
    });
  }
}
