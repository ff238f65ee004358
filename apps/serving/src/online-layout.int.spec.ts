import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { writeLayout1Row } from '@featurelog/online-store/testing';
import { waitFor } from '@featurelog/testing';
import { postJson, redisUrl, startServing, type ServingUnderTest } from './serving.test-kit';

/**
 * A Redis left in the old layout (one field per feature) is never read: serving answers 503,
 * retriable, ONLINE_STORE_REBUILDING, until the store is marked with the new layout (by the
 * materializer's rebuild), then serves what the rebuild wrote.
 */
describe('POST /get-online-features over a store of the old layout', () => {
  let serving: ServingUnderTest;
  let redis: Redis;
  const keyPrefix = `oldlayout${randomBytes(4).toString('hex')}`;
  const now = Date.now() * 1_000;
  const version = { eventTimestamp: now - 1_000, createdTimestamp: null, position: { partition: 0, offset: 1 } };

  before(async () => {
    redis = new Redis(redisUrl);
    serving = await startServing({}, { keyPrefix });
  });

  after(async () => {
    await serving?.close();
    const keys = await redis.keys(`${keyPrefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('answers 503 ONLINE_STORE_REBUILDING until the store is rebuilt, then serves it', async () => {
    const { project } = serving;
    await writeLayout1Row(redis, {
      prefix: keyPrefix,
      project,
      entityKey: 'driver_id=1',
      view: 'driver_stats',
      version,
      features: { conv_rate: 0.5, acc_rate: 0.25, trips: 10 },
    });
    const request = { features: ['driver_stats:conv_rate', 'driver_stats:trips'], entities: { driver_id: [1] } };
    const refused = await postJson(`${serving.url}/get-online-features`, request);
    assert.equal(refused.status, 503);
    assert.equal(refused.body.code, 'ONLINE_STORE_REBUILDING');
    assert.equal((refused.body as { retriable?: unknown }).retriable, true);
    assert.match(String(refused.body.message), /not in layout 2/);

    await serving.store.rebuildLayout();
    await serving.store.writeBatch({
      rows: [
        { project, entityKey: 'driver_id=1', view: 'driver_stats', version, features: { conv_rate: 0.75, trips: 12 } },
      ],
    });
    const served = await waitFor(
      async () => {
        const answer = await postJson(`${serving.url}/get-online-features`, request);
        return answer.status === 200 ? answer : undefined;
      },
      { description: 'serving to read the rebuilt store', timeoutMs: 5_000 },
    );
    assert.deepEqual(served.body.results[1]!.values, [0.75]);
    assert.deepEqual(served.body.results[2]!.values, [12]);
  });
});
