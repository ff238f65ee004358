import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tableFromIPC } from 'apache-arrow';
import { FeaturelogClient, FeaturelogClientError } from '@featurelog/client';
import { FeaturelogError, SILENT_LOGGER, type FeatureViewDefinition, type RowVersion } from '@featurelog/domain';
import { type FeatureRowFeed, type FeedListener, type FeedRow } from '@featurelog/serving';
import { servingTestDefinitions } from '@featurelog/serving/testing';
import { waitFor } from '@featurelog/testing';
import { startServing, type ServingUnderTest } from './serving.test-kit';

/**
 * Rows pushed by the test, standing in for the feature topics (covered with Kafka in subscribe.int.spec
 * and subscribe-resume.int.spec). It keeps no log, so it cannot resume a subscriber: reset.
 */
class PushedFeed implements FeatureRowFeed {
  readonly listeners = new Set<FeedListener>();
  async follow(_view: unknown, listener: FeedListener, from?: ReadonlyMap<number, number>) {
    if (from !== undefined) throw new FeaturelogError('RESUME_POSITION_UNAVAILABLE', 'pushed rows have no log');
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  push(row: FeedRow) {
    for (const listener of this.listeners) listener.rows([row]);
  }
  async close() {}
}

const at = (offset: number): RowVersion => ({
  eventTimestamp: Date.now() * 1_000,
  createdTimestamp: null,
  position: { partition: 0, offset },
});

describe('@featurelog/client against the serving app', () => {
  let serving: ServingUnderTest;
  const feed = new PushedFeed();

  before(async () => {
    serving = await startServing({ feed, auth: { apiKeys: [{ name: 'model', key: 'k1', scopes: ['read'] }] } });
  });
  after(() => serving.close());

  it('gets online features, typed, and turns errors into FeaturelogClientError with the server code', async () => {
    const client = new FeaturelogClient({ url: serving.url, apiKey: 'k1' });
    const response = await client.getOnlineFeatures({ features: ['driver_stats:trips'], entities: { driver_id: [1] } });
    assert.deepEqual(response.metadata.feature_names, ['driver_id', 'trips']);
    assert.deepEqual(response.results[1]!.statuses, ['NOT_FOUND']);
    await assert.rejects(
      client.getOnlineFeatures({ featureService: 'ghost', entities: { driver_id: [1] } }),
      (error: unknown) => {
        assert.ok(error instanceof FeaturelogClientError);
        assert.equal(error.status, 404);
        assert.equal(error.code, 'UNKNOWN_FEATURE_SERVICE');
        assert.equal(error.retriable, false);
        return true;
      },
    );
    const anonymous = new FeaturelogClient({ url: serving.url });
    await assert.rejects(
      anonymous.getOnlineFeatures({ features: ['driver_stats:trips'], entities: { driver_id: [1] } }),
      /401/,
    );
  });

  it('gets online features as Arrow IPC bytes, the same statuses as JSON', async () => {
    const client = new FeaturelogClient({ url: serving.url, apiKey: 'k1' });
    const table = tableFromIPC(
      await client.getOnlineFeaturesArrow({ features: ['driver_stats:trips'], entities: { driver_id: [1, 2] } }),
    );
    assert.deepEqual(
      table.schema.fields.map((field) => field.name),
      ['driver_id', 'trips', 'trips__status', 'trips__event_timestamp'],
    );
    assert.deepEqual(table.getChild('trips__status')!.toArray(), ['NOT_FOUND', 'NOT_FOUND']);
    await assert.rejects(client.getOnlineFeaturesArrow({ featureService: 'ghost', entities: { driver_id: [1] } }), {
      code: 'UNKNOWN_FEATURE_SERVICE',
      status: 404,
    });
  });

  it('subscribes, reconnects after the server goes away, and never lets a snapshot regress what it holds', async () => {
    const { project } = serving;
    await serving.store.writeBatch({
      rows: [
        {
          project,
          entityKey: 'driver_id=7',
          view: 'driver_stats',
          version: at(3),
          features: { conv_rate: 0.3, acc_rate: 0, trips: 3 },
        },
      ],
    });
    const client = new FeaturelogClient({ url: serving.url, apiKey: 'k1' });
    const errors: string[] = [];
    const resyncs: string[] = [];
    const subscription = client.subscribe(
      { features: ['driver_stats:trips'], entities: { driver_id: [7] } },
      {
        reconnectDelayMs: 20,
        maxReconnectDelayMs: 100,
        onError: (error) => errors.push(error.code),
        onResync: (reason) => resyncs.push(reason),
      },
    );
    try {
      await subscription.ready;
      assert.equal(subscription.get('driver_stats', 'driver_id=7')?.values?.trips, 3);
      // An update the online store has not materialized yet.
      feed.push({ view: 'driver_stats', entityKey: 'driver_id=7', version: at(5), row: { driver_id: 7, trips: 5 } });
      await waitFor(() => subscription.get('driver_stats', 'driver_id=7')?.values?.trips === 5, {
        description: 'update 5',
      });

      // The server goes away; a new one comes up on the same port, its snapshot still at offset 3.
      const port = Number(new URL(serving.url).port);
      await serving.app.close();
      await waitFor(() => errors.length > 0, { description: 'the client saw the stream end' });
      assert.match(subscription.lastEventId, /:0=6$/, 'the client holds where the stream stood');
      const { createServingApp } = await import('./serving-app');
      const { createMetricsRegistry } = await import('@featurelog/observability');
      const second = await createServingApp({
        project,
        onlineStore: serving.store,
        log: serving.log,
        follower: serving.follower,
        feed,
        auth: { apiKeys: [{ name: 'model', key: 'k1', scopes: ['read'] }] },
        metrics: createMetricsRegistry('serving'),
        logger: SILENT_LOGGER,
      });
      await second.listen(port, '127.0.0.1');
      serving.app = second;
      await waitFor(() => subscription.connections >= 2, { description: 'reconnected' });
      await waitFor(() => feed.listeners.size > 0, { description: 'the new server follows the feed' });
      // It asked to resume (Last-Event-ID); this feed cannot, so: reset, then a fresh snapshot.
      await waitFor(() => resyncs.length === 1, { description: 'the reset' });
      assert.match(resyncs[0]!, /pushed rows have no log/);
      assert.equal(
        subscription.get('driver_stats', 'driver_id=7')?.values?.trips,
        5,
        'the older snapshot did not regress the cache',
      );
      feed.push({ view: 'driver_stats', entityKey: 'driver_id=7', version: at(6), row: { driver_id: 7, trips: 6 } });
      await waitFor(() => subscription.get('driver_stats', 'driver_id=7')?.values?.trips === 6, {
        description: 'update 6 after reconnect',
      });
    } finally {
      await subscription.close();
    }
  });

  it('follows a registry change (resync, new columns) and stops for good when a view it reads is deleted', async () => {
    const { project } = serving;
    await serving.store.writeBatch({
      rows: [
        {
          project,
          entityKey: 'customer_id=c1|driver_id=9',
          view: 'driver_customer',
          version: at(1),
          features: { rides_together: 4, trips: 40 },
        },
      ],
    });
    const client = new FeaturelogClient({ url: serving.url, apiKey: 'k1' });
    const resyncs: string[] = [];
    const errors: Array<[string, boolean]> = [];
    const subscription = client.subscribe(
      { features: ['driver_customer:*'], entities: { driver_id: [9], customer_id: ['c1'] } },
      {
        reconnectDelayMs: 20,
        onResync: (reason) => resyncs.push(reason),
        onError: (error, willRetry) => errors.push([error.code, willRetry]),
      },
    );
    try {
      await subscription.ready;
      const held = () => subscription.get('driver_customer', 'customer_id=c1|driver_id=9');
      assert.deepEqual(held()?.values, { rides_together: 4, trips: 40 });
      // A view change the subscription reads: the trips feature is dropped.
      const view = servingTestDefinitions().find((d) => d.definition.name === 'driver_customer')!;
      await serving.apply([
        {
          kind: 'feature_view',
          definition: {
            ...(view.definition as FeatureViewDefinition),
            features: [{ name: 'rides_together', type: 'int32' }],
          },
        },
      ]);
      await waitFor(() => resyncs.length === 1, { description: 'the resync of the registry change' });
      assert.deepEqual(resyncs, ['registry changed']);
      await waitFor(() => held()?.values?.trips === undefined, { description: 'the snapshot of the new plan' });
      assert.deepEqual(held()?.values, { rides_together: 4 });
      await serving.applyChanges([
        { op: 'delete', kind: 'feature_service', name: 'ranking' },
        { op: 'delete', kind: 'feature_view', name: 'driver_customer' },
      ]);
      await subscription.done;
      assert.equal(errors.length, 1);
      assert.equal(errors[0]![0], 'UNKNOWN_FEATURE_VIEW');
      assert.equal(errors[0]![1], false, 'a deleted view is not retried');
      assert.equal(subscription.connections, 1);
    } finally {
      await subscription.close();
    }
  });

  it('does not retry a subscription the server refuses', async () => {
    const client = new FeaturelogClient({ url: serving.url, apiKey: 'wrong' });
    const subscription = client.subscribe({ features: ['driver_stats:trips'], entities: { driver_id: [1] } });
    await assert.rejects(
      subscription.ready,
      (error: unknown) => error instanceof FeaturelogClientError && error.status === 401,
    );
    await subscription.close();
  });
});
