import { constants, PerformanceObserver } from 'node:perf_hooks';
import { Gauge, type Registry } from 'prom-client';

/** GC pauses of one kind: how many, and their total, milliseconds. */
export interface GcKindTotals {
  count: number;
  ms: number;
}

/** GC pauses of this process in one window of time (see GcPauses.window). */
export interface GcTotals {
  count: number;
  ms: number;
  /** The longest single pause, milliseconds. */
  maxMs: number;
  /** Scavenges: young generation only, usually well under a millisecond each. */
  minor: GcKindTotals;
  /** Mark-compacts (full): the pauses that reach a latency's tail. */
  major: GcKindTotals;
  /** Incremental marking steps and weak callbacks. */
  other: GcKindTotals;
}

const emptyTotals = (): GcTotals => ({
  count: 0,
  ms: 0,
  maxMs: 0,
  minor: { count: 0, ms: 0 },
  major: { count: 0, ms: 0 },
  other: { count: 0, ms: 0 },
});

/**
 * Counts this process's GC pauses from V8's `gc` performance entries: totals split minor / major, and
 * the longest pause. The default metrics already give a histogram per kind, but its buckets (1, 10,
 * 100 ms) cannot say whether a 20–40 ms mark-compact is what reached a p99; the longest pause can.
 */
export class GcPauses {
  private totals = emptyTotals();
  private observer: PerformanceObserver | undefined;

  start(): this {
    if (this.observer !== undefined) return this;
    this.observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) this.record(entry);
    });
    this.observer.observe({ entryTypes: ['gc'] });
    return this;
  }

  stop(): void {
    this.observer?.disconnect();
    this.observer = undefined;
  }

  /**
   * The pauses since the previous call (or since start), and a new window from now. Each reader of
   * the pauses (a metrics scrape, a bench run) keeps a GcPauses of its own.
   */
  window(): GcTotals {
    const ended = this.totals;
    this.totals = emptyTotals();
    return ended;
  }

  /** Exported for tests: counts one `gc` entry. */
  record(entry: { duration: number; detail?: unknown }): void {
    const kind = (entry.detail as { kind?: number } | undefined)?.kind;
    const totals = this.totals;
    const bucket =
      kind === constants.NODE_PERFORMANCE_GC_MINOR
        ? totals.minor
        : kind === constants.NODE_PERFORMANCE_GC_MAJOR
          ? totals.major
          : totals.other;
    bucket.count++;
    bucket.ms += entry.duration;
    totals.count++;
    totals.ms += entry.duration;
    if (entry.duration > totals.maxMs) totals.maxMs = entry.duration;
  }
}

/**
 * `featurelog_gc_pause_max_seconds`: the longest GC pause since the previous scrape (one scraper per
 * process assumed), beside the default metrics' `featurelog_nodejs_gc_duration_seconds{kind}` counts
 * and sums.
 */
export function registerGcPauseMetrics(registry: Registry, pauses = new GcPauses().start()): GcPauses {
  new Gauge({
    name: 'featurelog_gc_pause_max_seconds',
    help: 'The longest GC pause since the previous scrape of /metrics, seconds',
    registers: [registry],
    collect() {
      this.set(pauses.window().maxMs / 1_000);
    },
  });
  return pauses;
}
