export * from './online-store.port';
export { encodeStoredValue, decodeStoredValue } from './stored-feature-value';
