import { type DynamicModule, Inject, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';

const SHUTDOWN_STEP = Symbol('featurelog:ShutdownStep');

@Injectable()
class ShutdownStepRunner implements OnApplicationShutdown {
  constructor(@Inject(SHUTDOWN_STEP) private readonly step: () => Promise<void>) {}

  onApplicationShutdown(): Promise<void> {
    return this.step();
  }
}

/**
 * Runs `step` when the app closes, after the HTTP server has stopped (app.close(), or a signal with
 * enableShutdownHooks). Nest's application object is a proxy that ignores `app.close = …`, so the
 * work an app owns beyond Nest (consumers, followers, the project's ports) is released here.
 */
@Module({})
export class ShutdownHookModule {
  static onShutdown(step: () => Promise<void>): DynamicModule {
    return {
      module: ShutdownHookModule,
      providers: [{ provide: SHUTDOWN_STEP, useValue: step }, ShutdownStepRunner],
    };
  }
}
