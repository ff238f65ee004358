export * from './health';
export * from './metrics';
export * from './gc-pauses';
export * from './observability.controller';
export * from './observability.module';
export * from './featurelog-exception.filter';
export * from './shutdown-hook.module';
export * from './featurelog-loggers';
