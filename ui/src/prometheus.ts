/** One sample of the Prometheus text format: `name{label="value",…} 12.5`. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** The samples of a /metrics answer (comments and malformed lines skipped). */
export function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = LINE.exec(line);
    if (match === null) continue;
    const labels: Record<string, string> = {};
    for (const [, name, value] of (match[2] ?? '').matchAll(LABEL)) {
      labels[name!] = value!.replace(/\\n/g, '\n').replace(/\\(.)/g, '$1');
    }
    const value = match[3] === '+Inf' ? Infinity : match[3] === '-Inf' ? -Infinity : Number(match[3]);
    samples.push({ name: match[1]!, labels, value });
  }
  return samples;
}

/** Per view: what the materializer reports about it (see libs/materializer's metrics). */
export interface ViewFreshness {
  view: string;
  /**
   * The histogram of the time from a row's event timestamp to its write online: its sum (seconds)
   * and count (rows written). Two polls give the mean delay of the rows written in between.
   */
  delaySum: number;
  delayCount: number;
  /** Rows consumed, every outcome (won, lost last-write-wins, offline only). */
  rowsConsumed: number;
  /** Rows that won last-write-wins: written online. */
  rowsWon: number;
  /** Records between the materializer's position and the end of each partition of the view's topic. */
  lag: Array<{ topic: string; partition: string; records: number }>;
  deadLetters: number;
  /** The greatest event time of the rows written online (epoch seconds), once the materializer wrote one. */
  newestEventSeconds?: number;
}

/** The metrics a view has one figure of, as the last sample read gives it, and where each goes. */
const ONE_PER_VIEW = new Map<string, 'delaySum' | 'delayCount' | 'newestEventSeconds'>([
  ['featurelog_materializer_freshness_seconds_sum', 'delaySum'],
  ['featurelog_materializer_freshness_seconds_count', 'delayCount'],
  ['featurelog_materializer_newest_event_timestamp_seconds', 'newestEventSeconds'],
]);

export function viewFreshness(samples: readonly Sample[], project: string): Map<string, ViewFreshness> {
  const views = new Map<string, ViewFreshness>();
  const of = (view: string) => {
    let entry = views.get(view);
    if (entry === undefined)
      views.set(
        view,
        (entry = { view, delaySum: 0, delayCount: 0, rowsConsumed: 0, rowsWon: 0, lag: [], deadLetters: 0 }),
      );
    return entry;
  };
  // A view's managed topic is `<project>.features.<view>` (`.v<n>` from its second version on).
  const viewOfTopic = (topic: string) =>
    topic.startsWith(`${project}.features.`)
      ? topic.slice(`${project}.features.`.length).replace(/\.v\d+$/, '')
      : undefined;
  for (const sample of samples) {
    const view = sample.labels.view ?? viewOfTopic(sample.labels.topic ?? '');
    if (view === undefined) continue;
    const figure = ONE_PER_VIEW.get(sample.name);
    if (figure !== undefined) {
      of(view)[figure] = sample.value;
      continue;
    }
    switch (sample.name) {
      case 'featurelog_materializer_rows_total':
        of(view).rowsConsumed += sample.value;
        if (sample.labels.outcome === 'won') of(view).rowsWon += sample.value;
        break;
      // The same figure as the projection runtime reports it (one partition counted once, whichever names it).
      case 'featurelog_materializer_lag_records':
      case 'featurelog_projection_lag_records': {
        // The materializer's projection is named `<project>.materializer` (its consumer group).
        const projection = sample.labels.projection ?? '';
        const materializer = projection === 'materializer' || projection.endsWith('.materializer');
        if (sample.name === 'featurelog_projection_lag_records' && !materializer) break;
        const topic = sample.labels.topic ?? '';
        const partition = sample.labels.partition ?? '';
        const lag = of(view).lag;
        const known = lag.find((p) => p.topic === topic && p.partition === partition);
        if (known) known.records = Math.max(known.records, sample.value);
        else lag.push({ topic, partition, records: sample.value });
        break;
      }
      case 'featurelog_materializer_dead_letters_total':
        of(view).deadLetters += sample.value;
        break;
    }
  }
  return views;
}
