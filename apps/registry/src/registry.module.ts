import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { createMetricsRegistry, FeaturelogExceptionFilter, ObservabilityModule } from '@featurelog/observability';
import { Gauge } from 'prom-client';
import { RegistryController } from './registry.controller';
import { REGISTRY_RUNTIME, type RegistryRuntime } from './registry.runtime';

@Module({})
export class RegistryAppModule {
  static forRuntime(runtime: RegistryRuntime): DynamicModule {
    const metrics = createMetricsRegistry('registry');
    new Gauge({
      name: 'featurelog_registry_version',
      help: 'Registry version this process serves (offset of the last accepted changeset + 1)',
      registers: [metrics],
      collect() {
        this.set(runtime.follower.state.version);
      },
    });
    new Gauge({
      name: 'featurelog_registry_unreadable_events',
      help: 'Registry events that could not be decoded; above 0 the registry is not served',
      registers: [metrics],
      collect() {
        this.set(runtime.follower.problems.length);
      },
    });
    return {
      module: RegistryAppModule,
      imports: [
        ObservabilityModule.forRoot({
          metrics,
          checks: {
            useFactory: () => [
              { name: 'log', check: () => runtime.checkLog() },
              { name: 'registry', check: async () => runtime.fold.assertServable() },
            ],
          },
        }),
      ],
      controllers: [RegistryController],
      providers: [
        { provide: REGISTRY_RUNTIME, useValue: runtime },
        { provide: APP_FILTER, useClass: FeaturelogExceptionFilter },
      ],
    };
  }
}
