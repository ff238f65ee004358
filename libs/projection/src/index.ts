export * from './consumer-runner';
export * from './projection';
export * from './projection-runtime';
export * from './projection-metrics';
