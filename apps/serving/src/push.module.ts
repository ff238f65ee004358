import { type DynamicModule, Module } from '@nestjs/common';
import { PUSH_OPTIONS, PushController, type PushOptions } from './push.controller';

/**
 * `POST /push` over a FeatureProducer the app built (with its registry follower), for the serving
 * app to import: `PushModule.forRoot({ producer })`; the route declares the `push` scope for the app's route guard.
 */
@Module({})
export class PushModule {
  static forRoot(options: PushOptions): DynamicModule {
    return {
      module: PushModule,
      controllers: [PushController],
      providers: [{ provide: PUSH_OPTIONS, useValue: options }],
    };
  }
}
