/**
 * Where the local stack listens, as clients (tests, apps) should see it.
 *
 * Dependency-free on purpose (node: modules only): @featurelog/testing re-exports it to every test
 * (libs/testing/src/stack-env.ts), so it must stay as light as the rest of that lib.
 * Every FEATURELOG_* client variable wins over the port-derived default, so a
 * developer can point tests at any Kafka / registry / Redis / Connect.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';

export interface StackPorts {
  kafka: number;
  kafkaController: number;
  schemaRegistry: number;
  redis: number;
  connect: number;
  /** Kafka's SASL_SSL listener (SCRAM-SHA-512 and PLAIN over TLS). */
  kafkaSecure: number;
  /** Apicurio's HTTPS port, beside its plain one. */
  schemaRegistryTls: number;
  /** Redis' tls-port, beside its plain one. */
  redisTls: number;
  /** PostgreSQL with wal_level=logical, for Debezium. */
  postgres: number;
  /**
   * The first node of the Redis Cluster (`up --redis-cluster`): its REDIS_CLUSTER_NODES nodes listen
   * on this port and the next ones, and each one's cluster bus on its port + 10000.
   */
  redisCluster: number;
}

export interface StackEnv {
  /** host:port list (FEATURELOG_KAFKA_BROKERS is comma-separated), e.g. ['127.0.0.1:9092'] */
  kafkaBrokers: string[];
  /** Confluent-compatible schema registry base URL, e.g. http://127.0.0.1:8081/apis/ccompat/v7 */
  schemaRegistryUrl: string;
  redisUrl: string;
  connectUrl: string;
  /**
   * Seed URL of the Redis Cluster (3 masters, one replica each), or undefined when no cluster runs:
   * FEATURELOG_REDIS_CLUSTER_URL, else the stack's own when `up --redis-cluster` started it.
   */
  redisClusterUrl: string | undefined;
}

type Env = Record<string, string | undefined>;

export const PORT_ENV = {
  kafka: 'FEATURELOG_KAFKA_PORT',
  kafkaController: 'FEATURELOG_KAFKA_CONTROLLER_PORT',
  schemaRegistry: 'FEATURELOG_SCHEMA_REGISTRY_PORT',
  redis: 'FEATURELOG_REDIS_PORT',
  connect: 'FEATURELOG_CONNECT_PORT',
  kafkaSecure: 'FEATURELOG_KAFKA_SECURE_PORT',
  schemaRegistryTls: 'FEATURELOG_SCHEMA_REGISTRY_TLS_PORT',
  redisTls: 'FEATURELOG_REDIS_TLS_PORT',
  postgres: 'FEATURELOG_POSTGRES_PORT',
  redisCluster: 'FEATURELOG_REDIS_CLUSTER_PORT',
} as const;

export const DEFAULT_PORTS: StackPorts = {
  kafka: 9092,
  kafkaController: 9093,
  schemaRegistry: 8081,
  redis: 6379,
  connect: 8083,
  kafkaSecure: 9094,
  schemaRegistryTls: 8443,
  redisTls: 6380,
  postgres: 5432,
  redisCluster: 7000,
};

/** 3 masters with one replica each. */
export const REDIS_CLUSTER_NODES = 6;

/**
 * From CLUSTER NODES: every node connected and not failing, and every master serving slots has a
 * replica (so the cluster can survive the loss of any one node).
 */
export function clusterHealth(nodes: string): { healthy: boolean; masters: number; replicas: number } {
  const lines = nodes
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => line.split(' '));
  const masters = lines.filter((f) => f[2]!.includes('master') && f.length > 8);
  const replicas = lines.filter((f) => f[2]!.includes('slave'));
  const allUp = lines.every((f) => f[7] === 'connected' && !/fail/.test(f[2]!));
  const covered = masters.every((m) => replicas.some((r) => r[3] === m[0]));
  return { healthy: allUp && covered, masters: masters.length, replicas: replicas.length };
}

/** The pid file `up --redis-cluster` writes: its presence says this stack runs the cluster. */
export const REDIS_CLUSTER_SERVICE = 'redis-cluster';

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
    kafkaSecure: portFrom(env, PORT_ENV.kafkaSecure, DEFAULT_PORTS.kafkaSecure),
    schemaRegistryTls: portFrom(env, PORT_ENV.schemaRegistryTls, DEFAULT_PORTS.schemaRegistryTls),
    redisTls: portFrom(env, PORT_ENV.redisTls, DEFAULT_PORTS.redisTls),
    postgres: portFrom(env, PORT_ENV.postgres, DEFAULT_PORTS.postgres),
    redisCluster: portFrom(env, PORT_ENV.redisCluster, DEFAULT_PORTS.redisCluster),
  };
}

/** FEATURELOG_STACK_DIR, default <repo>/.stack: data, config, logs, pid files and the secure/ folder. */
export function stackDirectory(env: Env = process.env): string {
  return path.resolve(nonEmpty(env.FEATURELOG_STACK_DIR) ?? path.join(__dirname, '..', '..', '.stack'));
}

/** The CA, certificate and credentials that `up` makes for the secured listeners, under the stack dir. */
export function secureDirectory(env: Env = process.env): string {
  return path.join(stackDirectory(env), 'secure');
}

/** What `up` writes to <stack dir>/secure/credentials.json (mode 0600). */
export interface StackCredentials {
  kafkaUsername: string;
  kafkaPassword: string;
  redisUsername: string;
  redisPassword: string;
  /** PostgreSQL's superuser (also the owner of the test database); absent in files written before it existed */
  postgresUsername?: string;
  postgresPassword?: string;
}

export const CREDENTIALS_FILE = 'credentials.json';
export const CA_FILE = 'ca.pem';

/** The secured listeners of the stack, as clients should see them. */
export interface StackSecureEnv {
  /** PEM of the CA that signed every secured listener's certificate (IP 127.0.0.1 and localhost). */
  caFile: string;
  /** SASL_SSL listener: SCRAM-SHA-512 and PLAIN, one user. */
  kafkaBrokers: string[];
  kafkaUsername: string;
  kafkaPassword: string;
  /** HTTPS URL of the same registry; no authentication (Apicurio 2.6 offers only OIDC). */
  schemaRegistryUrl: string;
  /** rediss:// URL of the same Redis, and its ACL user. */
  redisUrl: string;
  redisUsername: string;
  redisPassword: string;
}

/**
 * The secured listeners, or undefined when this stack has none (a stack started before they
 * existed, or not started): the credentials come from the file `up` wrote, unless FEATURELOG_*
 * variables name them.
 */
export function stackSecureEnv(env: Env = process.env): StackSecureEnv | undefined {
  const ports = stackPorts(env);
  const dir = secureDirectory(env);
  let stored: Partial<StackCredentials> = {};
  try {
    stored = JSON.parse(fs.readFileSync(path.join(dir, CREDENTIALS_FILE), 'utf8')) as StackCredentials;
  } catch {
    // no file: only variables can name the credentials
  }
  const caFile = nonEmpty(env.FEATURELOG_STACK_CA_FILE) ?? path.join(dir, CA_FILE);
  const kafkaUsername = nonEmpty(env.FEATURELOG_KAFKA_SASL_USERNAME) ?? stored.kafkaUsername;
  const kafkaPassword = nonEmpty(env.FEATURELOG_KAFKA_SASL_PASSWORD) ?? stored.kafkaPassword;
  const redisUsername = nonEmpty(env.FEATURELOG_REDIS_USERNAME) ?? stored.redisUsername;
  const redisPassword = nonEmpty(env.FEATURELOG_REDIS_PASSWORD) ?? stored.redisPassword;
  if (!kafkaUsername || !kafkaPassword || !redisUsername || !redisPassword || !fs.existsSync(caFile)) return undefined;
  return {
    caFile,
    kafkaBrokers: (nonEmpty(env.FEATURELOG_KAFKA_SECURE_BROKERS) ?? `${STACK_HOST}:${ports.kafkaSecure}`)
      .split(',')
      .map((broker) => broker.trim())
      .filter((broker) => broker !== ''),
    kafkaUsername,
    kafkaPassword,
    schemaRegistryUrl:
      nonEmpty(env.FEATURELOG_SCHEMA_REGISTRY_TLS_URL) ??
      `https://${STACK_HOST}:${ports.schemaRegistryTls}${CCOMPAT_PATH}`,
    redisUrl: nonEmpty(env.FEATURELOG_REDIS_TLS_URL) ?? `rediss://${STACK_HOST}:${ports.redisTls}`,
    redisUsername,
    redisPassword,
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

/** The stack's PostgreSQL as clients (psql, Debezium's connector config) should see it. */
export interface StackPostgresEnv {
  host: string;
  port: number;
  database: string;
  user: string;
  /** undefined when the stack has not made it yet (`up` writes it to secure/credentials.json) */
  password: string | undefined;
}

export const POSTGRES_DATABASE = 'featurelog';

/** FEATURELOG_POSTGRES_{HOST,DATABASE,USER,PASSWORD} win over the stack's own, as for the other services. */
export function stackPostgresEnv(env: Env = process.env): StackPostgresEnv {
  let stored: Partial<StackCredentials> = {};
  try {
    stored = JSON.parse(fs.readFileSync(path.join(secureDirectory(env), CREDENTIALS_FILE), 'utf8')) as StackCredentials;
  } catch {
    // no file: only variables can name the password
  }
  return {
    host: nonEmpty(env.FEATURELOG_POSTGRES_HOST) ?? STACK_HOST,
    port: stackPorts(env).postgres,
    database: nonEmpty(env.FEATURELOG_POSTGRES_DATABASE) ?? POSTGRES_DATABASE,
    user: nonEmpty(env.FEATURELOG_POSTGRES_USER) ?? stored.postgresUsername ?? 'featurelog',
    password: nonEmpty(env.FEATURELOG_POSTGRES_PASSWORD) ?? stored.postgresPassword,
  };
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
    redisClusterUrl:
      nonEmpty(env.FEATURELOG_REDIS_CLUSTER_URL) ??
      (fs.existsSync(path.join(stackDirectory(env), 'run', `${REDIS_CLUSTER_SERVICE}.pid`))
        ? `redis://${STACK_HOST}:${ports.redisCluster}`
        : undefined),
  };
}

/**
 * The same values under the FEATURELOG_* names, for handing to a child process. The secured
 * listeners' and PostgreSQL's passwords are left out (this is printed by `up`): they stay in
 * secure/credentials.json.
 */
export function stackEnvVars(env: Env = process.env): Record<string, string> {
  const s = stackEnv(env);
  const secure = stackSecureEnv(env);
  const postgres = stackPostgresEnv(env);
  return {
    FEATURELOG_KAFKA_BROKERS: s.kafkaBrokers.join(','),
    FEATURELOG_POSTGRES_HOST: postgres.host,
    FEATURELOG_POSTGRES_PORT: String(postgres.port),
    FEATURELOG_POSTGRES_DATABASE: postgres.database,
    FEATURELOG_POSTGRES_USER: postgres.user,
    FEATURELOG_SCHEMA_REGISTRY_URL: s.schemaRegistryUrl,
    FEATURELOG_REDIS_URL: s.redisUrl,
    FEATURELOG_CONNECT_URL: s.connectUrl,
    ...(s.redisClusterUrl !== undefined && { FEATURELOG_REDIS_CLUSTER_URL: s.redisClusterUrl }),
    ...(secure && {
      FEATURELOG_STACK_CA_FILE: secure.caFile,
      FEATURELOG_KAFKA_SECURE_BROKERS: secure.kafkaBrokers.join(','),
      FEATURELOG_KAFKA_SASL_USERNAME: secure.kafkaUsername,
      FEATURELOG_SCHEMA_REGISTRY_TLS_URL: secure.schemaRegistryUrl,
      FEATURELOG_REDIS_TLS_URL: secure.redisUrl,
      FEATURELOG_REDIS_USERNAME: secure.redisUsername,
    }),
  };
}
