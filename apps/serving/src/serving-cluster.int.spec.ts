import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RowVersion } from '@featurelog/domain';
import {
  keySlot,
  killNode,
  masterOfKey,
  redisClusterUnderTest,
  waitForClusterHealthy,
} from '@featurelog/online-store/testing';
import { waitFor } from '@featurelog/testing';
import { postJson, startServing, type ServingUnderTest } from './serving.test-kit';

const cluster = redisClusterUnderTest();
const DRIVERS = 60;

describe('POST /get-online-features over a Redis Cluster', { skip: cluster.skip }, () => {
  let serving: ServingUnderTest;
  let endpoint: string;
  let keyPrefix: string;
  const now = Date.now() * 1_000;
  const version = (offset: number): RowVersion => ({
    eventTimestamp: now - 1_000,
    createdTimestamp: null,
    position: { partition: 0, offset },
  });

  before(async () => {
    serving = await startServing({}, { redisClusterUrl: cluster.url! });
    endpoint = `${serving.url}/get-online-features`;
    const { project } = serving;
    await serving.store.writeBatch({
      rows: Array.from({ length: DRIVERS }, (_, i) => ({
        project,
        entityKey: `driver_id=${i}`,
        view: 'driver_stats',
        version: version(i),
        features: { conv_rate: i / 100, acc_rate: 0.5, trips: i },
      })),
    });
    keyPrefix = serving.keyPrefix;
  });
  after(() => serving?.close());

  const ask = (drivers: number[]) =>
    postJson(endpoint, { features: ['driver_stats:trips'], entities: { driver_id: drivers } });
  const everyDriver = Array.from({ length: DRIVERS }, (_, i) => i);
  const storeKey = (driver: number) => `${keyPrefix}:${serving.project}:{driver_id=${driver}}`;

  it('answers entities of every slot in one request, in request order', async () => {
    const { status, body } = await ask(everyDriver);
    assert.equal(status, 200);
    assert.deepEqual(
      body.results[1]!.values,
      everyDriver.map((i) => i),
    );
  });

  it('answers 503 (retriable) for entities on a killed master, 200 for the others, and 200 again after the failover', async () => {
    const victim = await masterOfKey(cluster.url!, storeKey(0));
    const onVictim = (driver: number) => {
      const slot = keySlot(storeKey(driver));
      return victim.slots.some(([from, to]) => slot >= from && slot <= to);
    };
    const elsewhere = everyDriver.filter((driver) => !onVictim(driver));
    await killNode(victim);
    const down = await ask([0]);
    assert.equal(down.status, 503, JSON.stringify(down.body));
    assert.equal(down.body.code, 'ONLINE_STORE_UNAVAILABLE');
    const others = await ask(elsewhere);
    assert.equal(others.status, 200, JSON.stringify(others.body));
    assert.deepEqual(others.body.results[1]!.values, elsewhere);
    const back = await waitFor(
      async () => {
        const answer = await ask(everyDriver);
        return answer.status === 200 ? answer : undefined;
      },
      { description: 'every entity served again after the failover', timeoutMs: 30_000, intervalMs: 200 },
    );
    assert.deepEqual(back.body.results[1]!.values, everyDriver);
    await waitForClusterHealthy(cluster.url!);
  });
});
