export * from './avro-type';
export * from './row-schema';
export * from './wire-format';
export * from './row-serde';
export * from './backward-compatibility';
export * from './schema-registry.port';
export * from './schema-registry.contract';
export * from './local-schema-registry.adapter';
