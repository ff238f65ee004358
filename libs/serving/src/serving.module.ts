import { type DynamicModule, Module } from '@nestjs/common';
import { SERVING_RUNTIME, ServingController, type ServingRuntime } from './serving.controller';

/** POST /get-online-features and GET /subscribe over a runtime the app built. */
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
