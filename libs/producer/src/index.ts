export * from './row-input';
export * from './invalid-rows.error';
export * from './feature-producer';
