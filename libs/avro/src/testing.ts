/**
 * @featurelog/avro/testing: the schema-registry contract suite every adapter's spec runs. Kept out of
 * the production barrel (index.ts) so that loading the lib never loads node:test.
 */
export * from './schema-registry.contract';
