import { Counter, Gauge, type Registry } from 'prom-client';
import type { ProjectionRuntime } from './projection-runtime';

const STATES = ['starting', 'running', 'retrying', 'stopped'] as const;

/** The runtimes reported in each registry: the gauges of a registry are made once and read them all. */
const runtimesOf = new WeakMap<Registry, Array<ProjectionRuntime<unknown>>>();

/**
 * The metrics every projection has, written once and labelled by projection: its streams by state,
 * restarts, batch retries, dead letters and lag per partition (the topic's end offset minus the
 * checkpoint in the sink). Several projections of one process (`featurelog dev`) share the families.
 */
export class ProjectionMetrics {
  private readonly runtimes: Array<ProjectionRuntime<unknown>>;
  private readonly restarts: Counter<'projection' | 'stream'>;
  private readonly retries: Counter<'projection' | 'topic'>;
  private readonly deadLetters: Counter<'projection' | 'topic' | 'code'>;

  constructor(registry: Registry) {
    const registers = [registry];
    let runtimes = runtimesOf.get(registry);
    if (runtimes === undefined) {
      runtimes = [];
      runtimesOf.set(registry, runtimes);
    }
    this.runtimes = runtimes;
    this.restarts = family(registry, 'featurelog_projection_restarts_total', () => {
      return new Counter({
        name: 'featurelog_projection_restarts_total',
        help: 'Runs of a stream that failed and were started again from the checkpoint in the sink',
        labelNames: ['projection', 'stream'],
        registers,
      });
    });
    this.retries = family(registry, 'featurelog_projection_retries_total', () => {
      return new Counter({
        name: 'featurelog_projection_retries_total',
        help: 'Batches retried after an infrastructure failure (broker, store or schema registry down)',
        labelNames: ['projection', 'topic'],
        registers,
      });
    });
    this.deadLetters = family(registry, 'featurelog_projection_dead_letters_total', () => {
      return new Counter({
        name: 'featurelog_projection_dead_letters_total',
        help: 'Records sent to the dead-letter topic, by source topic and error code',
        labelNames: ['projection', 'topic', 'code'],
        registers,
      });
    });
    family(registry, 'featurelog_projection_streams', () => {
      return new Gauge({
        name: 'featurelog_projection_streams',
        help: 'Streams of a projection by state (running: consuming; retrying: waiting to start again)',
        labelNames: ['projection', 'state'],
        registers,
        collect() {
          this.reset();
          for (const runtime of runtimes!) {
            const status = runtime.status();
            for (const state of STATES) {
              this.set(
                { projection: runtime.projection.name, state },
                status.filter((stream) => stream.state === state).length,
              );
            }
          }
        },
      });
    });
    family(registry, 'featurelog_projection_lag_records', () => {
      return new Gauge({
        name: 'featurelog_projection_lag_records',
        help: 'Records of a partition not yet in the sink: end offset minus the checkpoint',
        labelNames: ['projection', 'stream', 'topic', 'partition'],
        registers,
        async collect() {
          this.reset();
          for (const runtime of runtimes!) {
            // Lag matters most while the log is unhealthy: when it cannot be read, it is left out (health says
            // why) and the rest of the scrape is still served.
            const lag = await runtime.lag().catch(() => []);
            for (const { stream, topic, partition, lag: records } of lag) {
              this.set({ projection: runtime.projection.name, stream, topic, partition: String(partition) }, records);
            }
          }
        },
      });
    });
  }

  /** Counts and reports what happens to `runtime`'s streams from now on. */
  attach<Unit>(runtime: ProjectionRuntime<Unit>): void {
    const projection = runtime.projection.name;
    this.runtimes.push(runtime as ProjectionRuntime<unknown>);
    runtime.observe({
      restarting: ({ stream }) => this.restarts.inc({ projection, stream }),
      retry: ({ topic }) => this.retries.inc({ projection, topic }),
      deadLettered: ({ record, error }) => this.deadLetters.inc({ projection, topic: record.topic, code: error.code }),
    });
  }
}

/** The family of that name in `registry`, made once: projections of one process share it. */
function family<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}
