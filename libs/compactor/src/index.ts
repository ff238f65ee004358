export * from './view-compactor';
export * from './compactor';
