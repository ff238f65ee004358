export * from './event-log.port';
export { partitionForKey, murmur2 } from './key-partitioner';
export { FileEventLog, type FileEventLogOptions, type FsyncMode } from './file-event-log.adapter';
export { type RecoveryReport } from './file-segment';
export { KafkaEventLog, type KafkaEventLogOptions } from './kafka-event-log.adapter';
export * from './dead-letter-writer';
export * from './topic-declarations';
export {
  kafkaSettingError,
  tlsPreflight,
  type KafkaSasl,
  type KafkaSaslMechanism,
  type KafkaTls,
} from './kafka-security';
