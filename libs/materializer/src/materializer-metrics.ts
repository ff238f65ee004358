import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Where the lag gauge gets its figures when scraped. */
export interface LagSource {
  lag(): Promise<Array<{ topic: string; partition: number; lag: number }>>;
}

/**
 * The materializer's Prometheus metrics. Freshness is write time minus event time, observed per row
 * once its batch is stored; lag is the topic's end offset minus the stored checkpoint, per partition.
 */
export class MaterializerMetrics {
  readonly rows: Counter<'view' | 'outcome'>;
  readonly deadLetters: Counter<'topic' | 'code'>;
  readonly retries: Counter<'topic'>;
  readonly rebuilds: Counter<'reason'>;
  readonly freshness: Histogram<'view'>;
  readonly batchSeconds: Histogram;
  readonly newestEvent: Gauge<'view'>;
  private readonly freshnessByView = new Map<
    string,
    { delay: { observe(value: number): void }; newest: { set(value: number): void }; newestMicros: number }
  >();
  private lagSource: LagSource | undefined;

  constructor(registry: Registry) {
    const registers = [registry];
    this.rows = new Counter({
      name: 'featurelog_materializer_rows_total',
      help: 'Feature rows consumed for the online store, by view and outcome: won or lost last-write-wins (lost includes rows beaten by a later row of the same entity in one write, never sent), or offline_only (pushed with to=offline, skipped)',
      labelNames: ['view', 'outcome'],
      registers,
    });
    this.deadLetters = new Counter({
      name: 'featurelog_materializer_dead_letters_total',
      help: 'Records sent to the dead-letter topic, by source topic and error code',
      labelNames: ['topic', 'code'],
      registers,
    });
    this.retries = new Counter({
      name: 'featurelog_materializer_retries_total',
      help: 'Batches retried after an infrastructure failure (broker, Redis or schema registry down)',
      labelNames: ['topic'],
      registers,
    });
    this.rebuilds = new Counter({
      name: 'featurelog_materializer_rebuilds_total',
      help: 'Times the online store was found without its checkpoint (wiped) and rebuilt from offset 0',
      labelNames: ['reason'],
      registers,
    });
    this.freshness = new Histogram({
      name: 'featurelog_materializer_freshness_seconds',
      help: 'Time from a row event timestamp to its write into the online store',
      labelNames: ['view'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600],
      registers,
    });
    this.batchSeconds = new Histogram({
      name: 'featurelog_materializer_write_batch_seconds',
      help: 'Duration of one online store write (one Lua round trip)',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    });
    this.newestEvent = new Gauge({
      name: 'featurelog_materializer_newest_event_timestamp_seconds',
      help: 'The greatest event timestamp (epoch seconds) of the rows written to the online store, by view: now minus it is the lag in seconds',
      labelNames: ['view'],
      registers,
    });
    const lagSource = () => this.lagSource;
    new Gauge({
      name: 'featurelog_materializer_lag_records',
      help: 'Records of a partition not yet in the online store: end offset minus the stored checkpoint',
      labelNames: ['topic', 'partition'],
      registers,
      async collect() {
        this.reset();
        for (const { topic, partition, lag } of (await lagSource()?.lag()) ?? []) {
          this.set({ topic, partition: String(partition) }, lag);
        }
      },
    });
  }

  attach(source: LagSource): void {
    this.lagSource = source;
  }

  /**
   * Observes the freshness of every row of a stored batch, at one write time, and keeps the view's
   * newest event time online (the maximum taken in the same pass). A row of the batch that lost
   * last-write-wins lost to a stored row whose version, which orders by event timestamp first, is at
   * least its own: so the maximum over the rows sent is the maximum over the rows online.
   */
  observeFreshness(view: string, eventTimestampsMicros: readonly number[], writtenAtMicros: number): void {
    let child = this.freshnessByView.get(view);
    if (child === undefined) {
      child = { delay: this.freshness.labels(view), newest: this.newestEvent.labels(view), newestMicros: -Infinity };
      this.freshnessByView.set(view, child);
    }
    let newest = child.newestMicros;
    for (const eventTimestamp of eventTimestampsMicros) {
      child.delay.observe((writtenAtMicros - eventTimestamp) / 1e6);
      if (eventTimestamp > newest) newest = eventTimestamp;
    }
    if (newest > child.newestMicros) {
      child.newestMicros = newest;
      child.newest.set(newest / 1e6);
    }
  }
}
