import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { createMetricsRegistry, FeaturelogExceptionFilter, ObservabilityModule } from '@featurelog/observability';
import { UI_BUNDLE, UI_SETTINGS, UiController, type UiSettings } from './ui.controller';
import type { BundleFile } from './ui-bundle';

@Module({})
export class UiAppModule {
  static forBundle(bundle: ReadonlyMap<string, BundleFile>, settings: () => UiSettings): DynamicModule {
    return {
      module: UiAppModule,
      imports: [
        ObservabilityModule.forRoot({
          metrics: createMetricsRegistry('ui'),
          // Nothing to check beyond answering: the bundle is in memory, the data lives in the other apps.
          checks: { useFactory: () => [] },
        }),
      ],
      controllers: [UiController],
      providers: [
        { provide: UI_BUNDLE, useValue: bundle },
        { provide: UI_SETTINGS, useValue: settings },
        { provide: APP_FILTER, useClass: FeaturelogExceptionFilter },
      ],
    };
  }
}
