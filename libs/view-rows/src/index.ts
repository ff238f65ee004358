export * from './resolved-view';
export * from './record-format.port';
export * from './confluent-avro-format.adapter';
export * from './connect-json-format.adapter';
export * from './debezium-format.adapter';
export * from './view-row-decoder';
export * from './source-position';
