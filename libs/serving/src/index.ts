export * from './serving-auth';
export * from './json-values';
export * from './serving-catalog';
export * from './online-request';
export * from './online-retrieval';
export * from './serving.fixture';
