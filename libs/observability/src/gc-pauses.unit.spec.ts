import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { constants } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createMetricsRegistry, GcPauses } from '@featurelog/observability';

const entry = (kind: number, duration: number) => ({ duration, detail: { kind } });

describe('GcPauses', () => {
  it('splits pauses into minor, major and other, and keeps the longest of each window', () => {
    const pauses = new GcPauses();
    pauses.record(entry(constants.NODE_PERFORMANCE_GC_MINOR, 0.5));
    pauses.record(entry(constants.NODE_PERFORMANCE_GC_MINOR, 1.5));
    pauses.record(entry(constants.NODE_PERFORMANCE_GC_MAJOR, 30));
    pauses.record(entry(constants.NODE_PERFORMANCE_GC_INCREMENTAL, 2));
    assert.deepEqual(pauses.window(), {
      count: 4,
      ms: 34,
      maxMs: 30,
      minor: { count: 2, ms: 2 },
      major: { count: 1, ms: 30 },
      other: { count: 1, ms: 2 },
    });
    pauses.record(entry(constants.NODE_PERFORMANCE_GC_MINOR, 0.25));
    const next = pauses.window();
    assert.equal(next.count, 1);
    assert.equal(next.maxMs, 0.25, 'the 30 ms pause belonged to the window before');
  });

  it('observes the process’s real collections', async () => {
    const pauses = new GcPauses().start();
    try {
      setFlagsFromString('--expose-gc');
      const gc = runInNewContext('gc') as () => void;
      const deadline = Date.now() + 5_000;
      // Entries are delivered asynchronously, after the collection.
      while (pauses.window().major.count === 0 && Date.now() < deadline) {
        gc();
        await new Promise((resolve) => setImmediate(resolve));
      }
      assert.ok(Date.now() < deadline, 'a forced full GC was seen as a major pause');
    } finally {
      pauses.stop();
    }
  });

  it('/metrics text has the longest pause since the previous scrape', async () => {
    const text = await createMetricsRegistry('test').metrics();
    assert.match(text, /^featurelog_gc_pause_max_seconds\{app="test"\} [0-9.e-]+$/m);
  });
});
