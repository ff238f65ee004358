/**
 * What the local stack runs. Must match the properties in tools/stack/pom.xml;
 * the cache directory is keyed by these, so bumping one re-fetches once.
 *
 * Kafka 4.3.1: newest 4.x fully published on Maven Central when chosen
 * (4.4.0 had kafka_2.13 but not connect-runtime/kafka-tools-api). Verified with
 * kafkajs 2.2.4: admin createTopics/describeConfigs/fetchTopicMetadata/
 * fetchTopicOffsets/fetchOffsets/setOffsets/deleteGroups/deleteTopics,
 * idempotent producer acks=-1, transactions, consumer group consume + commit.
 *
 * Apicurio 2.6.13.Final: 3.3.x is compiled for Java 21, which Debian 12 does
 * not package, and 3.0.9 cannot be resolved (its parent pom is missing from
 * the registry); 2.6.x is the newest line that Maven resolves and that runs
 * on openjdk-17, and it serves the Confluent v7 API at /apis/ccompat/v7.
 *
 * Debezium 3.6.1.Final (PostgreSQL connector, plugin tarball): built against Kafka 4.3.0's Connect API
 * and Java 17; its jars carry ServiceLoader manifests. Apicurio's Kafka Connect converter is taken at
 * the registry's own version.
 */
export const STACK_VERSIONS = {
  kafka: '4.3.1',
  apicurio: '2.6.13.Final',
  debezium: '3.6.1.Final',
} as const;

export const STACK_CACHE_KEY = `kafka-${STACK_VERSIONS.kafka}_apicurio-${STACK_VERSIONS.apicurio}_debezium-${STACK_VERSIONS.debezium}`;
