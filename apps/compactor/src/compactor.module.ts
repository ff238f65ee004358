import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { Counter, Gauge } from 'prom-client';
import { createMetricsRegistry, FeaturelogExceptionFilter, ObservabilityModule } from '@featurelog/observability';
import { FeaturelogError } from '@featurelog/domain';
import type { Compactor, CompactorCounters } from '@featurelog/compactor';
import { ProjectionMetrics } from '@featurelog/projection';

const COUNTERS: Array<[keyof CompactorCounters, string, string]> = [
  ['segmentsWritten', 'featurelog_compactor_segments_written_total', 'Segments written and announced by flushes'],
  ['rowsWritten', 'featurelog_compactor_rows_written_total', 'Rows written into announced segments'],
  ['bytesWritten', 'featurelog_compactor_bytes_written_total', 'Bytes of announced segment files written by flushes'],
  ['merges', 'featurelog_compactor_merges_total', 'Merges announced (SegmentsMerged events)'],
  ['segmentsMerged', 'featurelog_compactor_segments_merged_total', 'Segments replaced by merges'],
  ['unreadableRecords', 'featurelog_compactor_unreadable_records_total', 'Records skipped as undecodable or invalid'],
  [
    'restarts',
    'featurelog_compactor_view_restarts_total',
    'Times a view restarted from the segment log after a failure',
  ],
  ['filesDeleted', 'featurelog_compactor_files_deleted_total', 'Replaced or orphaned files deleted'],
];

/** /health and /metrics over a running compactor; the compactor itself is built by startCompactor. */
@Module({})
export class CompactorAppModule {
  static forCompactor(compactor: Compactor): DynamicModule {
    const metrics = createMetricsRegistry('compactor');
    new ProjectionMetrics(metrics).attach(compactor.runtime);
    for (const [field, name, help] of COUNTERS) {
      new Counter({
        name,
        help,
        registers: [metrics],
        collect() {
          this.reset();
          this.inc(compactor.counters[field]);
        },
      });
    }
    new Gauge({
      name: 'featurelog_compactor_lag_offsets',
      help: 'Offsets of a view topic not yet in any live segment',
      labelNames: ['view'],
      registers: [metrics],
      async collect() {
        this.reset();
        // Metrics matter most while the compactor is unhealthy: when the segment log or the view topics
        // cannot be read, the lag is left out (health says why) and the rest of the scrape is still served.
        const lag = await compactor.lag().catch(() => new Map<string, number>());
        for (const [view, offsets] of lag) this.set({ view }, offsets);
      },
    });
    return {
      module: CompactorAppModule,
      imports: [
        ObservabilityModule.forRoot({
          metrics,
          checks: {
            useFactory: () => [
              { name: 'segment-log', check: () => compactor.segmentLog.catchUp() },
              {
                name: 'views',
                check: async () => {
                  const failing = compactor.status().filter((view) => view.state === 'retrying');
                  if (failing.length === 0) return;
                  throw new FeaturelogError(
                    'COMPACTOR_VIEW_FAILING',
                    failing.map((view) => `${view.view}: ${view.lastError ?? 'unknown error'}`).join('; '),
                    { retriable: true },
                  );
                },
              },
            ],
          },
        }),
      ],
      providers: [{ provide: APP_FILTER, useClass: FeaturelogExceptionFilter }],
    };
  }
}
