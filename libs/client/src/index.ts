export * from './featurelog-client';
