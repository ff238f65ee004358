export * from './resolved-view';
export * from './record-format.port';
export * from './confluent-avro-format.adapter';
export * from './view-row-decoder';
