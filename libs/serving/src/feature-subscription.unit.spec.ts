import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  evolveRegistry,
  FeaturelogError,
  type FeatureValue,
  type RegistryChange,
  type RegistryState,
  type RowVersion,
} from '@featurelog/domain';
import type { OnlineReadRequest, OnlineStore, OnlineViewValue } from '@featurelog/online-store';
import {
  CatalogSource,
  FeatureSubscriptions,
  parseStreamPosition,
  ServingCatalog,
  streamPositionId,
  type EventSink,
  type FeatureRowFeed,
  type FeedListener,
  type FeedRow,
  type ServingView,
} from '@featurelog/serving';
import { registryOf, servingTestDefinitions } from '@featurelog/serving/testing';

const NOW = Date.UTC(2025, 0, 1) * 1_000;
const version = (offset: number, eventTimestamp = NOW): RowVersion => ({
  eventTimestamp,
  createdTimestamp: null,
  position: { partition: 0, offset },
});
const row = (driverId: number, offset: number, trips: number, eventTimestamp = NOW): FeedRow => ({
  view: 'driver_stats',
  entityKey: `driver_id=${driverId}`,
  version: version(offset, eventTimestamp),
  row: { driver_id: driverId, event_timestamp: eventTimestamp, conv_rate: 0.5, acc_rate: 0.5, trips } as Record<
    string,
    FeatureValue
  >,
});

interface SubscriptionRow {
  entity_key: string;
  entity: Record<string, unknown>;
  status: string;
  values: Record<string, unknown>;
  version: { offset: number };
}
/** Every event's data in one loose shape (snapshot, update, resync, error). */
interface EventData extends SubscriptionRow {
  feature_names: string[];
  rows: SubscriptionRow[];
  reason: string;
  code: string;
  message: string;
  retriable: boolean;
}

class FakeFeed implements FeatureRowFeed {
  readonly listeners = new Set<FeedListener>();
  follows = 0;
  /** Views followed now, by name, with how many listeners each. */
  readonly followed = new Map<string, number>();
  async follow(view: ServingView, listener: FeedListener) {
    this.follows++;
    this.listeners.add(listener);
    this.followed.set(view.name, (this.followed.get(view.name) ?? 0) + 1);
    return () => {
      this.listeners.delete(listener);
      const left = this.followed.get(view.name)! - 1;
      if (left === 0) this.followed.delete(view.name);
      else this.followed.set(view.name, left);
    };
  }
  emit(...rows: FeedRow[]) {
    for (const listener of this.listeners) listener.rows(rows);
  }
  fail(error: Error) {
    for (const listener of this.listeners) listener.failed(error);
  }
  async close() {}
}

/** A store whose reads can be held open, to let rows arrive while the snapshot is read. */
class HeldStore {
  values = new Map<string, OnlineViewValue>();
  reads = 0;
  hold: Promise<void> | undefined;
  async read(_project: string, requests: readonly OnlineReadRequest[]) {
    this.reads++;
    const answer = requests.map((r) => r.views.map((view) => this.values.get(`${r.entityKey}/${view}`) ?? null));
    await this.hold;
    return answer;
  }
}

/** The `id:` of each event block (undefined: none; '' clears the client's id). */
const idsOf = (text: string) =>
  text
    .split('\n\n')
    .filter((block) => block.startsWith('event:'))
    .map((block) => /^id:(.*)$/m.exec(block)?.[1]?.trim());

const TOPIC = new ServingCatalog('p', registryOf(servingTestDefinitions())).view('driver_stats').topic;

class FakeSink implements EventSink {
  text = '';
  blocked = false;
  ended = false;
  private drainListeners: Array<() => void> = [];
  write(text: string) {
    this.text += text;
    return !this.blocked;
  }
  once(_event: 'drain', listener: () => void) {
    this.drainListeners.push(listener);
  }
  end() {
    this.ended = true;
  }
  drain() {
    this.blocked = false;
    const listeners = this.drainListeners;
    this.drainListeners = [];
    listeners.forEach((listener) => listener());
  }
  events(): Array<{ event: string; data: EventData }> {
    return this.text
      .split('\n\n')
      .filter((block) => block.startsWith('event:'))
      .map((block) => {
        const [eventLine, dataLine] = block.split('\n');
        return { event: eventLine!.slice(7), data: JSON.parse(dataLine!.slice(6)) as EventData };
      });
  }
}

function setup(maxQueuedEvents = 100) {
  const feed = new FakeFeed();
  const store = new HeldStore();
  const registry = { state: registryOf(servingTestDefinitions()), assertComplete: () => undefined };
  const registryListeners = new Set<() => void>();
  const subscriptions = new FeatureSubscriptions({
    project: 'p',
    store: store as unknown as OnlineStore,
    feed,
    catalogs: new CatalogSource('p', registry),
    limits: { maxQueuedEvents },
    nowMicros: () => NOW,
    registryChanges: (listener) => {
      registryListeners.add(listener);
      return () => registryListeners.delete(listener);
    },
  });
  const sink = new FakeSink();
  const open = (query: Record<string, string>, lastEventId?: string) => subscriptions.prepare(query, sink, lastEventId);
  /** Applies one changeset as the follower would, then lets the subscriptions re-plan. */
  const change = async (changes: RegistryChange[]) => {
    const state: RegistryState = registry.state;
    registry.state = evolveRegistry(
      state,
      { applyId: `change-${state.lastOffset + 1}`, basedOnVersion: state.version, appliedAt: NOW, changes },
      state.lastOffset + 1,
    );
    assert.equal(registry.state.rejections.length, 0, JSON.stringify(registry.state.rejections));
    for (const listener of registryListeners) listener();
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { feed, store, sink, open, subscriptions, change, registry };
}

const driverStatsWith = (features: Array<{ name: string; type: 'float64' | 'float32' | 'int64' }>) => ({
  op: 'upsert' as const,
  kind: 'feature_view' as const,
  name: 'driver_stats',
  definition: {
    name: 'driver_stats',
    version: 1,
    online: true,
    offline: true,
    entities: ['driver'],
    ttlSeconds: 3600,
    features,
  },
});

describe('FeatureSubscription', () => {
  it('sends the snapshot, then only newer rows of its entities, resolving rows that raced the snapshot', async () => {
    const { feed, store, sink, open } = setup();
    store.values.set('driver_id=1/driver_stats', {
      version: version(5),
      features: { conv_rate: 1, acc_rate: 1, trips: 5 },
    });
    let release!: () => void;
    store.hold = new Promise((resolve) => (release = resolve));
    const subscription = open({ features: 'driver_stats:trips', entities: '{"driver_id":[1,2]}' });
    const started = subscription.start();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(feed.follows, 1, 'the feed is followed before the snapshot is read');
    // While the snapshot read is in flight: one row older than it, one newer.
    feed.emit(row(1, 4, 4), row(2, 6, 60));
    release();
    await started;
    feed.emit(row(1, 5, 5), row(1, 7, 7), row(3, 8, 80), row(1, 6, 6));
    const events = sink.events();
    assert.deepEqual(
      events.map((e) => e.event),
      ['snapshot', 'update', 'update'],
    );
    const snapshot = events[0]!.data;
    assert.deepEqual(snapshot.feature_names, ['trips']);
    assert.deepEqual(
      snapshot.rows.map((r) => [r.entity_key, r.status, r.values?.trips ?? null]),
      [
        ['driver_id=1', 'PRESENT', 5],
        ['driver_id=2', 'NOT_FOUND', null],
      ],
    );
    assert.deepEqual(
      events.slice(1).map((e) => [e.data.entity, e.data.values.trips, e.data.version.offset]),
      [
        [{ driver_id: 2 }, 60, 6],
        [{ driver_id: 1 }, 7, 7],
      ],
    );
    // The update completing the snapshot carries the position; the snapshot alone would not hold it.
    assert.deepEqual(idsOf(sink.text), ['', `${TOPIC}:0=7`, `${TOPIC}:0=8`]);
    subscription.close();
    assert.equal(feed.listeners.size, 0, 'closing stops following');
  });

  it('sends a delete as the view becoming absent (NOT_FOUND, deleted, its version), as a fresh snapshot reads it', async () => {
    const { feed, store, sink, open } = setup();
    store.values.set('driver_id=1/driver_stats', {
      version: version(5),
      features: { conv_rate: 1, acc_rate: 1, trips: 5 },
    });
    const subscription = open({ features: 'driver_stats:trips', entities: '{"driver_id":[1]}' });
    await subscription.start();
    const deletion: FeedRow = { ...row(1, 6, 0, NOW + 10), row: { trips: null }, deleted: true };
    // The delete; then an older row (a redelivery) that must not bring the values back; then a newer upsert.
    feed.emit(deletion, row(1, 4, 4, NOW + 5), row(1, 9, 9, NOW + 20));
    const events = sink.events();
    assert.deepEqual(
      events.map((e) => e.event),
      ['snapshot', 'update', 'update'],
    );
    const deleted = events[1]!.data as unknown as Record<string, unknown>;
    assert.deepEqual(
      [
        deleted.status,
        deleted.values,
        deleted.event_timestamp,
        deleted.deleted,
        (deleted.version as { offset: number }).offset,
      ],
      ['NOT_FOUND', null, null, true, 6],
    );
    assert.deepEqual([events[2]!.data.status, events[2]!.data.values.trips], ['PRESENT', 9]);
    assert.equal((events[2]!.data as unknown as Record<string, unknown>).deleted, undefined);
    subscription.close();

    // What a subscriber reads of a deleted entity is what a snapshot (the online store) says of it then.
    store.values.delete('driver_id=1/driver_stats');
    const later = setup();
    const fresh = later.open({ features: 'driver_stats:trips', entities: '{"driver_id":[1]}' });
    await fresh.start();
    const snapshotRow = later.sink.events()[0]!.data.rows[0]!;
    assert.deepEqual([snapshotRow.status, snapshotRow.values], [deleted.status, deleted.values]);
    fresh.close();
  });

  it('takes the row the store holds, seen on the feed with its source position, for the same row (no update)', async () => {
    const { feed, store, sink, open } = setup();
    // The store keeps no source position; the feed gives the very same row with one.
    store.values.set('driver_id=1/driver_stats', {
      version: version(5),
      features: { conv_rate: 1, acc_rate: 1, trips: 5 },
    });
    let release!: () => void;
    store.hold = new Promise((resolve) => (release = resolve));
    const subscription = open({ features: 'driver_stats:trips', entities: '{"driver_id":[1]}' });
    const started = subscription.start();
    await new Promise((resolve) => setImmediate(resolve));
    const same = row(1, 5, 5);
    feed.emit({ ...same, version: { ...same.version, sourcePosition: '00000000000000000500' } });
    release();
    await started;
    assert.deepEqual(
      sink.events().map((e) => e.event),
      ['snapshot'],
    );
    subscription.close();
  });

  it('ranks rows of equal timestamps by their source position before their log position', async () => {
    const { feed, sink, open } = setup();
    const subscription = open({ features: 'driver_stats:trips', entities: '{"driver_id":[1]}' });
    await subscription.start();
    const at = (partition: number, offset: number, sourcePosition: string, trips: number): FeedRow => {
      const base = row(1, offset, trips, NOW + 10);
      return { ...base, version: { ...base.version, position: { partition, offset }, sourcePosition } };
    };
    // Two changes of one source row, committed in the same millisecond, on two partitions: the later
    // change (greater source position) has the smaller offset.
    feed.emit(at(1, 3, '00000000000000000200', 2), at(0, 9, '00000000000000000100', 1));
    const updates = sink.events().filter((e) => e.event === 'update');
    assert.deepEqual(
      updates.map((e) => [e.data.values.trips, (e.data.version as unknown as Record<string, unknown>).source_position]),
      [[2, '00000000000000000200']],
    );
    subscription.close();
  });

  it('tells a subscriber that falls behind (resync with the reason) and sends a fresh snapshot when it reads again', async () => {
    const { feed, store, sink, open } = setup(3);
    const subscription = open({ features: 'driver_stats:trips', entities: '{"driver_id":[1]}' });
    await subscription.start();
    sink.blocked = true;
    feed.emit(row(1, 1, 1)); // handed to the transport, which reports it full
    for (let offset = 2; offset <= 10; offset++) feed.emit(row(1, offset, offset));
    store.values.set('driver_id=1/driver_stats', { version: version(10), features: { trips: 10 } });
    assert.equal(subscription.resyncs, 1);
    const readsBefore = store.reads;
    sink.drain();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(store.reads, readsBefore + 1, 'the fresh snapshot is read once the subscriber reads again');
    feed.emit(row(1, 9, 9), row(1, 11, 11));
    const events = sink.events();
    assert.deepEqual(
      events.map((e) => e.event),
      ['snapshot', 'update', 'resync', 'snapshot', 'update'],
    );
    assert.match(events[2]!.data.reason, /maxQueuedEvents = 3/);
    assert.equal(events[3]!.data.rows[0]!.values.trips, 10);
    assert.equal(events[4]!.data.values.trips, 11);
    subscription.close();
  });

  it('ends the stream with an error event when the feed fails, so the client reconnects', async () => {
    const { feed, sink, open, subscriptions } = setup();
    const subscription = open({ feature_service: 'ranking', entities: '{"driver_id":[1],"customer_id":["a"]}' });
    await subscription.start();
    assert.equal(subscriptions.active, 1);
    feed.fail(new FeaturelogError('LOG_UNAVAILABLE', 'broker gone', { retriable: true }));
    const last = sink.events().at(-1)!;
    assert.equal(last.event, 'error');
    assert.equal(last.data.code, 'LOG_UNAVAILABLE');
    assert.equal(sink.ended, true);
    assert.equal(subscriptions.active, 0);
  });

  it('after a resync, still sends rows the feed gave that the fresh snapshot does not hold yet', async () => {
    const { feed, store, sink, open } = setup(2);
    const subscription = open({ features: 'driver_stats:trips', entities: '{"driver_id":[1,2]}' });
    await subscription.start();
    sink.blocked = true;
    // The feed runs ahead of the materializer: these rows are not in the store when it is read again.
    feed.emit(row(1, 1, 1), row(2, 2, 2), row(1, 3, 3), row(2, 4, 4));
    assert.equal(subscription.resyncs, 1);
    store.values.set('driver_id=1/driver_stats', { version: version(1), features: { trips: 1 } });
    sink.drain();
    await new Promise((resolve) => setImmediate(resolve));
    const events = sink.events();
    const resync = events.findIndex((e) => e.event === 'resync');
    assert.equal(events[resync + 1]!.event, 'snapshot');
    assert.deepEqual(
      events.slice(resync + 2).map((e) => [e.event, e.data.entity_key, e.data.values.trips]),
      [
        ['update', 'driver_id=1', 3],
        ['update', 'driver_id=2', 4],
      ],
    );
    subscription.close();
  });

  it('re-plans when the registry changes what it reads: resync "registry changed", then a snapshot of the new plan', async () => {
    const { feed, store, sink, open, change, subscriptions } = setup();
    store.values.set('driver_id=1/driver_stats', {
      version: version(5),
      features: { conv_rate: 0.5, acc_rate: 0.5, trips: 5, rating: 4.5 },
    });
    const subscription = open({ features: 'driver_stats:*', entities: '{"driver_id":[1]}' });
    await subscription.start();
    await change([
      {
        op: 'upsert',
        kind: 'entity',
        name: 'rider',
        definition: { name: 'rider', joinKeys: [{ name: 'rider_id', type: 'int64' }] },
      },
    ]);
    assert.deepEqual(
      sink.events().map((e) => e.event),
      ['snapshot'],
      'a change to a definition it does not read sends nothing',
    );
    await change([
      driverStatsWith([
        { name: 'conv_rate', type: 'float64' },
        { name: 'acc_rate', type: 'float32' },
        { name: 'trips', type: 'int64' },
        { name: 'rating', type: 'float64' },
      ]),
    ]);
    const events = sink.events();
    assert.deepEqual(
      events.map((e) => e.event),
      ['snapshot', 'resync', 'snapshot'],
    );
    assert.equal(events[1]!.data.reason, 'registry changed');
    assert.deepEqual(events[2]!.data.feature_names, ['conv_rate', 'acc_rate', 'trips', 'rating']);
    assert.equal(events[2]!.data.rows[0]!.values.rating, 4.5);
    assert.deepEqual([...feed.followed], [['driver_stats', 1]], 'the view is followed once, by its new definition');
    feed.emit(row(1, 6, 6));
    assert.equal(sink.events().at(-1)!.data.values.trips, 6);
    assert.equal(subscriptions.active, 1);
    subscription.close();
  });

  it('ends the stream with a non-retriable error when a view it reads is deleted', async () => {
    const { feed, sink, open, change, subscriptions } = setup();
    const subscription = open({
      features: 'driver_customer:rides_together',
      entities: '{"driver_id":[1],"customer_id":["a"]}',
    });
    await subscription.start();
    await change([
      { op: 'delete', kind: 'feature_service', name: 'ranking' },
      { op: 'delete', kind: 'feature_view', name: 'driver_customer' },
    ]);
    const last = sink.events().at(-1)!;
    assert.equal(last.event, 'error');
    assert.equal(last.data.retriable, false);
    assert.match(last.data.message, /registry changed.*driver_customer/);
    assert.equal(sink.ended, true);
    assert.equal(subscriptions.active, 0);
    assert.equal(feed.listeners.size, 0);
  });

  it('refuses a bad query before anything is streamed', () => {
    const { open } = setup();
    assert.throws(() => open({ features: 'driver_stats:trips' }), /"entities" is required/);
    assert.throws(() => open({ features: 'driver_stats:trips', entities: '{' }), /"entities" is not valid JSON/);
    assert.throws(() => open({ features: 'driver_stats:trips', entities: '{"driver_id":["x"]}' }), /int64/);
    assert.throws(() => open({ feature_service: 'ghost', entities: '{"driver_id":[1]}' }), /"ghost"/);
  });

  it('writes a stream position as an event id and reads it back, refusing anything else', () => {
    const positions = new Map([
      [
        'p.features.b',
        new Map([
          [1, 7],
          [0, 12],
        ]),
      ],
      ['p.features.a', new Map([[0, 0]])],
    ]);
    const id = streamPositionId(positions);
    assert.equal(id, 'p.features.a:0=0;p.features.b:0=12,1=7');
    assert.deepEqual(parseStreamPosition(id), positions);
    for (const bad of [
      '',
      'x',
      'a:0',
      'a:0=1,0=2',
      'a:0=1;a:0=2',
      'a:-1=2',
      'a:0=1.5',
      'a b:0=1',
      'a:0=1;',
      `a:0=${'9'.repeat(17)}`,
    ]) {
      assert.equal(parseStreamPosition(bad), undefined, bad);
    }
  });

  it('gives every event the position it leaves the subscriber at, and none while a snapshot is ahead of it', async () => {
    const { feed, store, sink, open } = setup();
    // The materializer is ahead of the feed: the snapshot holds offset 5, the feed stands at 3.
    store.values.set('driver_id=1/driver_stats', { version: version(5), features: { trips: 5 } });
    const subscription = open({ features: 'driver_stats:trips', entities: '{"driver_id":[1]}' });
    const where = (nextOffset: number) => {
      for (const listener of feed.listeners) listener.rows([], { topic: TOPIC, partition: 0, nextOffset });
    };
    const started = subscription.start();
    await new Promise((resolve) => setImmediate(resolve));
    where(3);
    await started;
    feed.emit(row(1, 4, 4, NOW - 1)); // older than the snapshot: no event
    feed.emit(row(1, 5, 5)); // the snapshot's own row: no event, but the stream passes it
    feed.emit(row(2, 6, 60)); // another driver
    feed.emit(row(1, 7, 7));
    where(9);
    feed.emit(row(1, 9, 9));
    assert.deepEqual(
      sink.events().map((e) => [e.event, e.data.values?.trips ?? e.data.rows[0]?.values.trips]),
      [
        ['snapshot', 5],
        ['update', 7],
        ['update', 9],
      ],
    );
    assert.deepEqual(idsOf(sink.text), ['', `${TOPIC}:0=8`, `${TOPIC}:0=10`]);
    subscription.close();
  });

  it('resumes from Last-Event-ID: no snapshot, the rows from there that are newer than what it holds, with ids', async () => {
    const { feed, store, sink, open } = setup();
    // What the subscriber holds, from before its position: a row at offset 8.
    store.values.set('driver_id=1/driver_stats', { version: version(8), features: { trips: 8 } });
    const subscription = open({ features: 'driver_stats:trips', entities: '{"driver_id":[1,2]}' }, `${TOPIC}:0=10`);
    await subscription.start();
    assert.ok(sink.text.startsWith(': resumed'), 'the stream starts at once');
    feed.emit(row(1, 10, 10, NOW - 1)); // appended after the position but older than what it holds
    feed.emit(row(2, 11, 11), row(1, 12, 12));
    assert.deepEqual(
      sink.events().map((e) => [e.event, e.data.entity_key, e.data.values.trips]),
      [
        ['update', 'driver_id=2', 11],
        ['update', 'driver_id=1', 12],
      ],
    );
    assert.deepEqual(idsOf(sink.text), [`${TOPIC}:0=12`, `${TOPIC}:0=13`]);
    subscription.close();
  });

  it('answers an id it cannot serve with reset (the reason, the id cleared), then a fresh snapshot', async () => {
    for (const [id, reason] of [
      ['garbage', /not a stream position/],
      ['p.features.other:0=1', /this subscription reads/],
    ] as const) {
      const { sink, open } = setup();
      const subscription = open({ features: 'driver_stats:trips', entities: '{"driver_id":[1]}' }, id);
      await subscription.start();
      const events = sink.events();
      assert.deepEqual(
        events.map((e) => e.event),
        ['reset', 'snapshot'],
      );
      assert.match(events[0]!.data.reason, reason);
      assert.equal(idsOf(sink.text)[0], '');
      subscription.close();
    }
  });
});
