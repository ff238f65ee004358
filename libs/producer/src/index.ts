export * from './row-input';
export * from './invalid-rows.error';
export * from './feature-producer';
export * from './csv-values';
export * from './feature-files';
export * from './file-ingest';
export * from './push-request';
export * from './exact-json-body';
