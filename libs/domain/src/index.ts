export * from './errors';
export * from './value-types';
export * from './definitions';
export * from './row-version';
