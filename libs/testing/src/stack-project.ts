import { stackEnv } from './stack-env';

/**
 * featurelog.yaml of a project on the stack: its Kafka as the log and its schema registry; its Redis as
 * the online store unless `onlineStore` names another (a YAML flow mapping) or is null (none set); then
 * the `more` lines as they are (offline store, serving…).
 */
export function stackProjectYaml(
  project: string,
  { onlineStore, more = [] }: { onlineStore?: string | null; more?: string[] } = {},
): string {
  const env = stackEnv();
  const online = onlineStore === undefined ? `{ type: redis, url: "${env.redisUrl}" }` : onlineStore;
  return [
    `project: ${project}`,
    `log: { type: kafka, brokers: "${env.kafkaBrokers.join(',')}" }`,
    `schemaRegistry: { type: confluent, url: "${env.schemaRegistryUrl}" }`,
    ...(online === null ? [] : [`onlineStore: ${online}`]),
    ...more,
    '',
  ].join('\n');
}
