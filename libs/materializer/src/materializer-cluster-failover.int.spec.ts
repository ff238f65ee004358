import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { killNode, masterOfKey, redisClusterUnderTest, waitForClusterHealthy } from '@featurelog/online-store/testing';
import { waitFor } from '@featurelog/testing';
import {
  baseDefinitions,
  openTestProject,
  randomRows,
  startMaterializer,
  storedValues,
  waitForStoreToEqualFold,
  type RunningMaterializer,
  type TestProject,
} from './materializer.test-kit';

const cluster = redisClusterUnderTest();
const base = Date.now() * 1_000;

describe('the materializer on a Redis Cluster whose master is killed midway', { skip: cluster.skip }, () => {
  let test: TestProject;
  let materializer: RunningMaterializer;

  before(async () => {
    test = await openTestProject('stack', { redisClusterUrl: cluster.url! });
    await test.apply(baseDefinitions());
    materializer = await startMaterializer(test);
  });

  after(async () => {
    await materializer?.stop();
    await test?.close();
  });

  it('loses no row it checkpointed: the store ends equal to the fold of the log, without a restart', async () => {
    const seed = { value: 11 };
    const entities = 600;
    let produced = 0;
    let producing = true;
    const producer = (async () => {
      while (producing) {
        await test.produce('driver_stats', randomRows(300, entities, seed, base));
        produced += 300;
        await new Promise((done) => setTimeout(done, 150));
      }
    })();
    // Rows materialized (and checkpointed) before the kill: those are what a failover could lose.
    const store = await test.store();
    await waitFor(
      async () => {
        const stored = await storedValues(store, test.project, 'driver_stats', folded(entities));
        return stored.size >= entities / 2;
      },
      { description: 'half the entities materialized before the kill', timeoutMs: 60_000, intervalMs: 250 },
    );
    const victim = await masterOfKey(cluster.url!, `fl:${test.project}:{driver_id=1}`);
    const producedAtKill = produced;
    await killNode(victim);
    // Rows keep coming through the failover, and after it.
    await waitFor(() => produced >= producedAtKill + 6_000, {
      description: 'rows produced during and after the failover',
      timeoutMs: 120_000,
      intervalMs: 250,
    });
    producing = false;
    await producer;
    await waitForStoreToEqualFold(test, { timeoutMs: 120_000, intervalMs: 500 });
    const promoted = await masterOfKey(cluster.url!, `fl:${test.project}:{driver_id=1}`);
    assert.notEqual(promoted.port, victim.port, 'the killed master was replaced by its replica');
    if (process.env.FEATURELOG_TEST_VERBOSE) {
      process.stderr.write(`${produced} rows produced, ${producedAtKill} before the kill\n`);
    }
    await waitForClusterHealthy(cluster.url!);
  });
});

/** The entity keys the rows use (driver_id from 0 to entities - 1), encoded as the store keys them. */
function folded(entities: number): string[] {
  return Array.from({ length: entities }, (_, i) => `driver_id=${i}`);
}
