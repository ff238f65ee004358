/**
 * Where the local stack listens, as clients (tests, apps) should see it.
 *
 * Dependency-free on purpose: test helpers import this file by relative path.
 * Every FEATURELOG_* client variable wins over the port-derived default, so a
 * developer can point tests at any Kafka / registry / Redis / Connect.
 */

export interface StackPorts {
  kafka: number;
  kafkaController: number;
  schemaRegistry: number;
  redis: number;
  connect: number;
}

export interface StackEnv {
  /** host:port list (FEATURELOG_KAFKA_BROKERS is comma-separated), e.g. ['127.0.0.1:9092'] */
  kafkaBrokers: string[];
  /** Confluent-compatible schema registry base URL, e.g. http://127.0.0.1:8081/apis/ccompat/v7 */
  schemaRegistryUrl: string;
  redisUrl: string;
  connectUrl: string;
}

type Env = Record<string, string | undefined>;

export const PORT_ENV = {
  kafka: 'FEATURELOG_KAFKA_PORT',
  kafkaController: 'FEATURELOG_KAFKA_CONTROLLER_PORT',
  schemaRegistry: 'FEATURELOG_SCHEMA_REGISTRY_PORT',
  redis: 'FEATURELOG_REDIS_PORT',
  connect: 'FEATURELOG_CONNECT_PORT',
} as const;

export const DEFAULT_PORTS: StackPorts = {
  kafka: 9092,
  kafkaController: 9093,
  schemaRegistry: 8081,
  redis: 6379,
  connect: 8083,
};

/** Apicurio serves the Confluent Schema Registry v7 API under this path. */
export const CCOMPAT_PATH = '/apis/ccompat/v7';

export const STACK_HOST = '127.0.0.1';

function portFrom(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`${name}=${JSON.stringify(raw)} is not a TCP port: expected an integer from 1 to 65535`);
  }
  return port;
}

export function stackPorts(env: Env = process.env): StackPorts {
  return {
    kafka: portFrom(env, PORT_ENV.kafka, DEFAULT_PORTS.kafka),
    kafkaController: portFrom(env, PORT_ENV.kafkaController, DEFAULT_PORTS.kafkaController),
    schemaRegistry: portFrom(env, PORT_ENV.schemaRegistry, DEFAULT_PORTS.schemaRegistry),
    redis: portFrom(env, PORT_ENV.redis, DEFAULT_PORTS.redis),
    connect: portFrom(env, PORT_ENV.connect, DEFAULT_PORTS.connect),
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

export function stackEnv(env: Env = process.env): StackEnv {
  const ports = stackPorts(env);
  return {
    kafkaBrokers: (nonEmpty(env.FEATURELOG_KAFKA_BROKERS) ?? `${STACK_HOST}:${ports.kafka}`)
      .split(',')
      .map((broker) => broker.trim())
      .filter((broker) => broker !== ''),
    schemaRegistryUrl:
      nonEmpty(env.FEATURELOG_SCHEMA_REGISTRY_URL) ?? `http://${STACK_HOST}:${ports.schemaRegistry}${CCOMPAT_PATH}`,
    redisUrl: nonEmpty(env.FEATURELOG_REDIS_URL) ?? `redis://${STACK_HOST}:${ports.redis}`,
    connectUrl: nonEmpty(env.FEATURELOG_CONNECT_URL) ?? `http://${STACK_HOST}:${ports.connect}`,
  };
}

/** The same values under the FEATURELOG_* names, for handing to a child process. */
export function stackEnvVars(env: Env = process.env): Record<string, string> {
  const s = stackEnv(env);
  return {
    FEATURELOG_KAFKA_BROKERS: s.kafkaBrokers.join(','),
    FEATURELOG_SCHEMA_REGISTRY_URL: s.schemaRegistryUrl,
    FEATURELOG_REDIS_URL: s.redisUrl,
    FEATURELOG_CONNECT_URL: s.connectUrl,
  };
}
