import { readFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { FeaturelogError } from '@featurelog/domain';
import { PROJECT_FILE_NAME } from './definition-files';
import {
  basicAuthSettings,
  connectionProblems,
  deferSecretInterpolation,
  isSecretSetting,
  saslSettings,
  tlsSettings,
  type AppsSettings,
  type BasicAuthSettings,
  type RawSasl,
  type RawTls,
  type SaslSettings,
  type SecretSetting,
  type TlsSettings,
} from './connection-settings';
import { interpolateEnv, type InterpolationProblem } from './env-interpolation';
import { checkProjectDocument } from './schema-validation';
import { locate, parseYamlDocuments } from './yaml-source';

export type LogSettings =
  | { type: 'embedded'; path: string }
  | {
      type: 'kafka';
      brokers: string[];
      clientId: string;
      tls?: TlsSettings;
      sasl?: SaslSettings;
      /** Consumer group liveness; absent: the Kafka adapter's defaults. */
      sessionTimeoutMs?: number;
      heartbeatIntervalMs?: number;
    };
export type SchemaRegistrySettings =
  | { type: 'embedded'; path: string }
  | { type: 'confluent'; url: string; tls?: TlsSettings; basicAuth?: BasicAuthSettings };
export type OnlineStoreSettings =
  | { type: 'embedded'; path: string }
  | {
      type: 'redis';
      url: string;
      username?: string;
      password?: SecretSetting;
      tls?: TlsSettings;
      /** A Redis Cluster: `url` is one seed node, `nodes` more of them. */
      cluster?: { nodes: string[] };
    };
export type OfflineStoreSettings = { type: 'local'; path: string };

export type ApiKeyScopeSetting = 'read' | 'push' | 'apply' | 'jobs' | 'admin';

/** One API key of featurelog.yaml: exactly one of `key` (the key, usually `${ENV_VAR}`) or `sha256` (its digest, hex). */
export interface ApiKeySetting {
  name: string;
  key?: string;
  sha256?: string;
  scopes: ApiKeyScopeSetting[];
  /**
   * Set instead of `key` / `sha256` when the environment variable they name is unset: says which
   * variable, where. Only what checks keys (the apps, `featurelog dev`) needs the key, so the rest of
   * the configuration loads and every other command runs; what checks keys refuses to start with this.
   */
  unavailable?: string;
}

export interface ServingSettings {
  /** Empty: authentication is off (local development only). */
  apiKeys: ApiKeySetting[];
  /** Most entity rows per request or subscription; absent: the serving app's default. */
  maxEntityRows?: number;
}

/** featurelog.yaml with defaults applied, variables interpolated and paths made absolute. */
export interface ProjectConfig {
  project: string;
  /** Absolute path of the folder holding featurelog.yaml. */
  repoDir: string;
  log: LogSettings;
  schemaRegistry: SchemaRegistrySettings;
  onlineStore: OnlineStoreSettings;
  offlineStore: OfflineStoreSettings;
  /** Present when featurelog.yaml has a `serving` section. Holds secrets: never log the config whole. */
  serving?: ServingSettings;
  /** Present when featurelog.yaml has an `apps` section: where each app listens (see appListenAddress). */
  apps?: AppsSettings;
  /** Present when featurelog.yaml names Kafka Connect workers: where connectors (kind: connector) run. */
  connect?: ConnectSettings;
}

/** Kafka Connect workers by name; `connect: { url }` is the worker named `default`. */
export interface ConnectSettings {
  workers: Record<string, { url: string }>;
}

/** Everything embedded, under `.featurelog/` in the repo: the single-machine default. */
export const DEFAULT_DATA_DIR = '.featurelog';
export const DEFAULT_KAFKA_CLIENT_ID = 'featurelog';
const DEFAULT_PATHS = {
  log: `${DEFAULT_DATA_DIR}/log`,
  schemaRegistry: `${DEFAULT_DATA_DIR}/schemas`,
  onlineStore: `${DEFAULT_DATA_DIR}/online`,
  offlineStore: `${DEFAULT_DATA_DIR}/offline`,
} as const;

export interface ConfigProblem {
  /** The setting, e.g. `log.brokers`. */
  setting: string;
  message: string;
  file: string;
  line?: number;
}

/** Thrown when featurelog.yaml is invalid; lists every problem. */
export class ConfigInvalidError extends FeaturelogError {
  readonly problems: ConfigProblem[];

  constructor(file: string, problems: ConfigProblem[]) {
    const lines = problems.map(
      (p) => `  ${p.file}${p.line ? `:${p.line}` : ''}: ${p.setting ? `${p.setting}: ` : ''}${p.message}`,
    );
    super('CONFIG_INVALID', `${file} is invalid (${problems.length} problem(s)):\n${lines.join('\n')}`);
    this.problems = problems;
  }
}

export interface LoadConfigOptions {
  /** Variables for `${VAR:-default}`; default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
}

/** Reads and validates `<repoDir>/featurelog.yaml`. Throws CONFIG_NOT_FOUND or ConfigInvalidError (CONFIG_INVALID). */
export async function loadProjectConfig(
  repoDir: string,
  { env = process.env }: LoadConfigOptions = {},
): Promise<ProjectConfig> {
  const file = join(repoDir, PROJECT_FILE_NAME);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new FeaturelogError(
      'CONFIG_NOT_FOUND',
      `no ${PROJECT_FILE_NAME} in ${resolve(repoDir)} (run featurelog init)`,
      { cause },
    );
  }
  return parseProjectConfig(text, { file, repoDir, env });
}

/** Validates the text of featurelog.yaml; `file` is used in messages, `repoDir` to resolve relative paths. */
export function parseProjectConfig(
  text: string,
  { file, repoDir, env = process.env }: { file: string; repoDir: string } & LoadConfigOptions,
): ProjectConfig {
  const { documents, syntax } = parseYamlDocuments(text, file);
  const problems: ConfigProblem[] = syntax.map((s) => ({
    setting: '',
    message: `YAML syntax: ${s.message}`,
    file,
    line: s.line,
  }));
  if (syntax.length === 0 && documents.length !== 1) {
    problems.push({ setting: '', message: `must hold exactly one YAML document, found ${documents.length}`, file });
  }
  const source = documents[0];
  if (problems.length > 0 || !source) throw new ConfigInvalidError(file, problems);

  const interpolation: InterpolationProblem[] = [];
  const value = interpolateEnv(deferSecretInterpolation(source.value), env, interpolation);
  const at = (path: Array<string | number>) => ({ setting: path.join('.'), file, line: locate(source, path).line });
  // An API key's unset variable is left for whatever checks keys to report: by index, why.
  const unavailableKeys = new Map<number, string>();
  for (const problem of interpolation) {
    if (problem.variable !== undefined && isApiKeySecret(problem.path)) {
      const { line } = at(problem.path);
      unavailableKeys.set(
        problem.path[2] as number,
        `environment variable ${problem.variable} is not set (${file}${line ? `:${line}` : ''}: ${problem.path.join('.')})`,
      );
      continue;
    }
    problems.push({ ...at(problem.path), message: problem.message });
  }
  for (const violation of checkProjectDocument(value)) {
    // The placeholder of an unset key variable is no key to validate.
    if (isApiKeySecret(violation.path) && unavailableKeys.has(violation.path[2] as number)) continue;
    // An API key is a secret: a message about it never repeats its value.
    const message =
      violation.path[violation.path.length - 1] === 'key' || isSecretSetting(violation.path)
        ? violation.message.replace(/, got .*$/s, '')
        : violation.message;
    problems.push({ ...at(violation.path), message });
  }
  for (const problem of apiKeyProblems(value)) problems.push({ ...at(problem.path), message: problem.message });
  for (const problem of connectionProblems(value)) problems.push({ ...at(problem.path), message: problem.message });
  if (problems.length > 0)
    throw new ConfigInvalidError(
      file,
      problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0)),
    );

  const config = withDefaults(value as RawProjectConfig, resolve(repoDir));
  for (const [index, why] of unavailableKeys) {
    const { name, scopes } = config.serving!.apiKeys[index]!;
    // The placeholder text must never be taken for the key itself.
    config.serving!.apiKeys[index] = { name, scopes, unavailable: why };
  }
  return config;
}

/** `serving.apiKeys.<i>.key` or `.sha256`: the settings that hold (or name) a key. */
function isApiKeySecret(path: ReadonlyArray<string | number>): boolean {
  return (
    path.length === 4 &&
    path[0] === 'serving' &&
    path[1] === 'apiKeys' &&
    typeof path[2] === 'number' &&
    (path[3] === 'key' || path[3] === 'sha256')
  );
}

/** What the schema cannot say about API keys: exactly one of key or sha256, and names used once. */
function apiKeyProblems(value: unknown): Array<{ path: Array<string | number>; message: string }> {
  const keys = (value as { serving?: { apiKeys?: unknown } } | null)?.serving?.apiKeys;
  if (!Array.isArray(keys)) return [];
  const problems: Array<{ path: Array<string | number>; message: string }> = [];
  const names = new Set<string>();
  keys.forEach((entry: unknown, i) => {
    if (entry === null || typeof entry !== 'object') return;
    const { name, key, sha256 } = entry as Record<string, unknown>;
    const path = ['serving', 'apiKeys', i];
    if ((key === undefined) === (sha256 === undefined)) {
      problems.push({ path, message: 'needs exactly one of key (e.g. ${MODEL_API_KEY}) or sha256' });
    }
    if (typeof name === 'string') {
      if (names.has(name)) problems.push({ path: [...path, 'name'], message: `"${name}" names two API keys` });
      names.add(name);
    }
  });
  return problems;
}

interface RawProjectConfig {
  project: string;
  log?:
    | { type: 'embedded'; path?: string }
    | {
        type: 'kafka';
        brokers: string | string[];
        clientId?: string;
        tls?: RawTls;
        sasl?: RawSasl;
        sessionTimeoutMs?: number;
        heartbeatIntervalMs?: number;
      };
  schemaRegistry?:
    | { type: 'embedded'; path?: string }
    | { type: 'confluent'; url: string; tls?: RawTls; basicAuth?: { username: string; password: string } };
  onlineStore?:
    | { type: 'embedded'; path?: string }
    | {
        type: 'redis';
        url: string;
        username?: string;
        password?: string;
        tls?: RawTls;
        cluster?: boolean;
        nodes?: string[];
      };
  offlineStore?: { type: 'local'; path?: string };
  serving?: { apiKeys?: ApiKeySetting[]; maxEntityRows?: number };
  apps?: AppsSettings;
  connect?: { url?: string; workers?: Record<string, { url: string }> };
}

function withDefaults(raw: RawProjectConfig, repoDir: string): ProjectConfig {
  const path = (given: string | undefined, fallback: string) => {
    const chosen = given ?? fallback;
    return isAbsolute(chosen) ? chosen : resolve(repoDir, chosen);
  };
  const log: LogSettings =
    raw.log?.type === 'kafka'
      ? {
          type: 'kafka',
          brokers: (Array.isArray(raw.log.brokers) ? raw.log.brokers : raw.log.brokers.split(',')).map((b) => b.trim()),
          clientId: raw.log.clientId ?? DEFAULT_KAFKA_CLIENT_ID,
          ...(raw.log.sessionTimeoutMs !== undefined && { sessionTimeoutMs: raw.log.sessionTimeoutMs }),
          ...(raw.log.heartbeatIntervalMs !== undefined && { heartbeatIntervalMs: raw.log.heartbeatIntervalMs }),
          ...secureKafka(raw.log, repoDir),
        }
      : { type: 'embedded', path: path(raw.log?.path, DEFAULT_PATHS.log) };
  const schemaRegistry: SchemaRegistrySettings =
    raw.schemaRegistry?.type === 'confluent'
      ? { type: 'confluent', url: raw.schemaRegistry.url, ...secureRegistry(raw.schemaRegistry, repoDir) }
      : { type: 'embedded', path: path(raw.schemaRegistry?.path, DEFAULT_PATHS.schemaRegistry) };
  const onlineStore: OnlineStoreSettings =
    raw.onlineStore?.type === 'redis'
      ? {
          type: 'redis',
          url: raw.onlineStore.url,
          ...secureRedis(raw.onlineStore, repoDir),
          ...(raw.onlineStore.cluster === true && { cluster: { nodes: raw.onlineStore.nodes ?? [] } }),
        }
      : { type: 'embedded', path: path(raw.onlineStore?.path, DEFAULT_PATHS.onlineStore) };
  const offlineStore: OfflineStoreSettings = {
    type: 'local',
    path: path(raw.offlineStore?.path, DEFAULT_PATHS.offlineStore),
  };
  const config: ProjectConfig = { project: raw.project, repoDir, log, schemaRegistry, onlineStore, offlineStore };
  if (raw.serving !== undefined) {
    config.serving = { apiKeys: raw.serving.apiKeys ?? [] };
    if (raw.serving.maxEntityRows !== undefined) config.serving.maxEntityRows = raw.serving.maxEntityRows;
  }
  if (raw.apps !== undefined) config.apps = raw.apps;
  if (raw.connect !== undefined) {
    const workers = raw.connect.url !== undefined ? { default: { url: raw.connect.url } } : (raw.connect.workers ?? {});
    config.connect = {
      // A trailing slash would double in `${url}/connectors`.
      workers: Object.fromEntries(
        Object.entries(workers).map(([name, w]) => [name, { url: w.url.replace(/\/+$/, '') }]),
      ),
    };
  }
  return config;
}

// Secure connections: only the fields present are set, so a plain configuration is exactly as before.

function secureKafka(raw: { tls?: RawTls; sasl?: RawSasl }, repoDir: string) {
  const tls = tlsSettings(raw.tls, repoDir);
  const sasl = saslSettings(raw.sasl, 'log');
  return { ...(tls && { tls }), ...(sasl && { sasl }) };
}

function secureRegistry(raw: { tls?: RawTls; basicAuth?: { username: string; password: string } }, repoDir: string) {
  const tls = tlsSettings(raw.tls, repoDir);
  const basicAuth = basicAuthSettings(raw.basicAuth, 'schemaRegistry');
  return { ...(tls && { tls }), ...(basicAuth && { basicAuth }) };
}

function secureRedis(raw: { username?: string; password?: string; tls?: RawTls }, repoDir: string) {
  const tls = tlsSettings(raw.tls, repoDir);
  const password: SecretSetting | undefined =
    raw.password === undefined ? undefined : { setting: 'onlineStore.password', reference: raw.password };
  return {
    ...(raw.username !== undefined && { username: raw.username }),
    ...(password && { password }),
    ...(tls && { tls }),
  };
}
