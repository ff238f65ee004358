export * from './view-projection';
export * from './materializer';
export * from './materializer-metrics';
export * from './materializer-options';
