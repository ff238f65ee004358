/**
 * @featurelog/view-rows/testing: records as Kafka Connect and Debezium write them (a PostgreSQL table
 * captured in every CDC format), for specs and benches. Kept out of the production barrel (index.ts).
 */
export * from './cdc-records.fixture';
