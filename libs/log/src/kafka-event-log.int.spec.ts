import { KafkaEventLog } from '@featurelog/log';
import { eventLogContract, eventLogFollowContract } from '@featurelog/log/testing';

const brokers = (process.env.FEATURELOG_KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');

eventLogContract('Kafka', () => KafkaEventLog.connect({ brokers }));
eventLogFollowContract('Kafka', () => KafkaEventLog.connect({ brokers }));
