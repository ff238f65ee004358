import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import type { Registry } from 'prom-client';
import { topicNames } from '@featurelog/domain';
import type { EventLog } from '@featurelog/log';
import type { Materializer } from '@featurelog/materializer';
import { FeaturelogExceptionFilter, ObservabilityModule } from '@featurelog/observability';
import type { OnlineStore } from '@featurelog/online-store';
import type { RegistryFollower } from '@featurelog/registry';

/** What the app module is composed of; built and started by materializerApp.create. */
export interface MaterializerParts {
  project: string;
  materializer: Materializer;
  follower: RegistryFollower;
  store: OnlineStore;
  log: EventLog;
  metrics: Registry;
}

/** /health (online store, log, registry fold complete, consumer running) and /metrics. */
@Module({})
export class MaterializerAppModule {
  static forParts(parts: MaterializerParts): DynamicModule {
    const { materializer, follower, store, log, metrics, project } = parts;
    return {
      module: MaterializerAppModule,
      imports: [
        ObservabilityModule.forRoot({
          metrics,
          checks: {
            useFactory: () => [
              { name: 'online-store', check: () => store.ping() },
              { name: 'log', check: async () => void (await log.endOffsets(topicNames.registry(project))) },
              { name: 'registry', check: async () => follower.assertComplete() },
              { name: 'consumer', check: async () => materializer.assertRunning() },
            ],
          },
        }),
      ],
      providers: [{ provide: APP_FILTER, useClass: FeaturelogExceptionFilter }],
    };
  }
}
