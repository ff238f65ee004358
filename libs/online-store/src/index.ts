export * from './online-store.port';
export { RedisOnlineStore, type RedisOnlineStoreConfig } from './redis-online-store.adapter';
export type { RedisClusterOptions } from './redis-topology';
export { LevelOnlineStore, type LevelOnlineStoreConfig } from './level-online-store.adapter';
export { encodeStoredValue, decodeStoredValue } from './stored-feature-value';
export { READ_FIELDS_SCRIPT, READ_FIELDS_SEPARATOR } from './redis-read.script';
export { redisSettingError } from './redis-connection-error';
