import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { createMetricsRegistry, FeaturelogExceptionFilter, ObservabilityModule } from '@featurelog/observability';
import { connectorProblems } from '@featurelog/registry';
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
    new Gauge({
      name: 'featurelog_connector_tasks',
      help: 'Tasks of each connector the registry holds, by state as its Connect worker last reported it',
      labelNames: ['connector', 'state'],
      registers: [metrics],
      collect() {
        this.reset();
        for (const connector of runtime.connectors?.connectors() ?? []) {
          const counts = new Map<string, number>();
          for (const task of connector.status?.tasks ?? []) counts.set(task.state, (counts.get(task.state) ?? 0) + 1);
          for (const [state, count] of counts) this.set({ connector: connector.name, state }, count);
        }
      },
    });
    new Gauge({
      name: 'featurelog_connector_up',
      help: '1 when the connector itself is RUNNING or PAUSED as its definition says, 0 otherwise',
      labelNames: ['connector'],
      registers: [metrics],
      collect() {
        this.reset();
        for (const c of runtime.connectors?.connectors() ?? []) {
          const wanted = c.desiredState === 'paused' ? 'PAUSED' : 'RUNNING';
          this.set({ connector: c.name }, c.error === undefined && c.status?.state === wanted ? 1 : 0);
        }
      },
    });
    const connectorChecks = runtime.connectors
      ? [
          {
            name: 'connectors',
            check: async () => {
              const problems = connectorProblems(runtime.connectors!.connectors());
              if (problems.length > 0) throw new Error(problems.join('; '));
            },
          },
        ]
      : [];
    return {
      module: RegistryAppModule,
      imports: [
        ObservabilityModule.forRoot({
          metrics,
          checks: {
            useFactory: () => [
              { name: 'log', check: () => runtime.checkLog() },
              { name: 'registry', check: async () => runtime.fold.assertServable() },
              ...connectorChecks,
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
