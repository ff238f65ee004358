import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SILENT_LOGGER } from '@featurelog/domain';
import type { OnlineStore, OnlineWriteBatch } from '@featurelog/online-store';
import { waitFor } from '@featurelog/testing';
import { Materializer } from './materializer';
import { baseDefinitions, openTestProject, statsView } from './materializer.test-kit';

/**
 * A restarted materializer with a backlog (issue #12 k: about 170k rows after a kill -9) must leave the
 * event loop free between pieces of work, or /health and /metrics wait until it has caught up and an
 * orchestrator kills it again. Observed deterministically: a setImmediate ticker runs beside the catch-up,
 * and the store notes the tick at every write. Two chunk writes of one batch at the same tick mean the
 * loop never got a turn between them (all of a fetch decoded in one go); two batches at the same tick mean
 * batches were chained without a turn.
 */
describe('materializer catching up a backlog', () => {
  it('gives the event loop a turn between chunks of a batch and between batches', async () => {
    const test = await openTestProject('embedded');
    const { follower } = test.runtime.registry();
    let materializer: Materializer | undefined;
    let ticking = true;
    let ticks = 0;
    const tick = () => {
      ticks++;
      if (ticking) setImmediate(tick);
    };
    try {
      await test.apply(baseDefinitions(statsView()));
      const rows = Array.from({ length: 6_000 }, (_, i) => ({
        driver_id: i,
        event_timestamp: 1_700_000_000_000_000 + i * 1_000,
        created_timestamp: null,
        conv_rate: 0.5,
        trips: i,
        city: 'paris',
      }));
      await test.produce('driver_stats', rows);
      const store = await test.store();
      // The real store, observed: each write notes the ticker.
      const writes: number[] = [];
      const observed = new Proxy(store, {
        get(target, property, receiver) {
          if (property === 'writeBatch') {
            return (batch: OnlineWriteBatch) => {
              writes.push(ticks);
              return target.writeBatch(batch);
            };
          }
          const value: unknown = Reflect.get(target, property, receiver);
          return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
        },
      }) as OnlineStore;
      await follower.start(`${test.project}.catch-up-registry`);
      materializer = new Materializer({
        project: test.project,
        log: test.runtime.log,
        schemas: test.runtime.schemas,
        store: observed,
        follower,
        // The file log delivers 500 records a batch: five chunks each.
        maxRowsPerWrite: 100,
        logger: SILENT_LOGGER,
      });
      setImmediate(tick);
      await materializer.start();
      await waitFor(
        async () => {
          const lag = await materializer!.lag();
          return lag.length > 0 && lag.every((partition) => partition.lag === 0);
        },
        { timeoutMs: 60_000, description: 'the materializer to catch up' },
      );
      assert.ok(writes.length >= 60, `${writes.length} writes: 60 chunks at least`);
      const sameTick = writes.filter((tick, i) => i > 0 && tick === writes[i - 1]).length;
      assert.equal(sameTick, 0, `${sameTick} of ${writes.length} writes followed the previous one without a turn`);
    } finally {
      ticking = false;
      await materializer?.stop();
      await follower.stop();
      await test.close();
    }
  });
});
