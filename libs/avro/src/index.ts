export * from './avro-type';
export * from './row-schema';
export * from './wire-format';
export * from './row-serde';
export * from './backward-compatibility';
