import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FeaturelogClient, FeaturelogClientError } from '@featurelog/client';
import type { RowVersion } from '@featurelog/domain';
import type { FeatureRowFeed, FeedListener, FeedRow } from '@featurelog/serving';
import { waitFor } from '@featurelog/testing';
import { startServing, type ServingUnderTest } from './serving.test-kit';

/** Rows pushed by the test, standing in for the feature topics (covered with Kafka in subscribe.int.spec). */
class PushedFeed implements FeatureRowFeed {
  readonly listeners = new Set<FeedListener>();
  async follow(_view: unknown, listener: FeedListener) {
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
    const subscription = client.subscribe(
      { features: ['driver_stats:trips'], entities: { driver_id: [7] } },
      { reconnectDelayMs: 20, maxReconnectDelayMs: 100, onError: (error) => errors.push(error.code) },
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
        logger: false,
      });
      await second.listen(port, '127.0.0.1');
      serving.app = second;
      await waitFor(() => subscription.connections >= 2, { description: 'reconnected' });
      await waitFor(() => feed.listeners.size > 0, { description: 'the new server follows the feed' });
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
