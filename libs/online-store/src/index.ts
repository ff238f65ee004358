export * from './online-store.port';
export { RedisOnlineStore, type RedisOnlineStoreConfig } from './redis-online-store.adapter';
export type { RedisClusterOptions } from './redis-topology';
export { LevelOnlineStore, type LevelOnlineStoreConfig } from './level-online-store.adapter';
export { encodeStoredValue, decodeStoredValue } from './stored-feature-value';
export { redisSettingError } from './redis-connection-error';
export { encodeViewValue, storedSpansAt, storedText, storedViewValueOf, viewValueParts } from './view-value';
