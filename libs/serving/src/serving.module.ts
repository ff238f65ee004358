import { type DynamicModule, Module } from '@nestjs/common';
import { SERVING_RUNTIME, ServingController, type ServingRuntime } from './serving.controller';

/** GET /subscribe over a runtime the app built (the app adds POST /get-online-features: registerOnlineFeaturesRoute). */
@Module({})
export class ServingModule {
  static forRoot(runtime: ServingRuntime): DynamicModule {
    return {
      module: ServingModule,
      controllers: [ServingController],
      providers: [{ provide: SERVING_RUNTIME, useValue: runtime }],
      exports: [SERVING_RUNTIME],
    };
  }
}
