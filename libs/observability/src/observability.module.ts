import { type DynamicModule, type FactoryProvider, Module, type ModuleMetadata, type Provider } from '@nestjs/common';
import type { Registry } from 'prom-client';
import type { HealthCheck } from './health';
import { HEALTH_CHECKS, METRICS_REGISTRY, ObservabilityController } from './observability.controller';

export interface ObservabilityOptions {
  metrics: Registry;
  /** Modules whose exported providers the check factory injects. */
  imports?: ModuleMetadata['imports'];
  /** A factory, so checks can use providers of the importing app. */
  checks: { inject?: FactoryProvider['inject']; useFactory: (...deps: never[]) => HealthCheck[] };
}

@Module({})
export class ObservabilityModule {
  static forRoot(options: ObservabilityOptions): DynamicModule {
    const providers: Provider[] = [
      { provide: METRICS_REGISTRY, useValue: options.metrics },
      { provide: HEALTH_CHECKS, inject: options.checks.inject ?? [], useFactory: options.checks.useFactory },
    ];
    return {
      module: ObservabilityModule,
      imports: options.imports ?? [],
      controllers: [ObservabilityController],
      providers,
      exports: [METRICS_REGISTRY],
    };
  }
}
