import { isAbsolute, resolve } from 'node:path';
import { FeaturelogError } from '@featurelog/domain';
import { interpolateEnv, type InterpolationProblem } from './env-interpolation';

/**
 * The secure-connection slices of featurelog.yaml (TLS, Kafka SASL, schema-registry basic auth, Redis
 * ACL user) and the apps' listen addresses. Kept apart from project-config.ts, which only calls in here.
 */

/**
 * A secret of featurelog.yaml, held as its `${ENV_VAR}` reference and resolved only when the
 * connection that needs it is opened: a command that never opens it does not fail on an unset
 * variable, and the config object (logged, compared, hashed) never holds the secret itself.
 */
export interface SecretSetting {
  /** Where in featurelog.yaml, e.g. `log.sasl.password`. */
  setting: string;
  /** The text as written, e.g. `${KAFKA_PASSWORD}`. */
  reference: string;
}

/** TLS towards a part: CA (and client certificate) files, absolute. `tls: true` is `{ rejectUnauthorized: true }`. */
export interface TlsSettings {
  /** PEM file of the CA(s) to trust instead of the system's; absent: the system's CAs. */
  ca?: string;
  /** PEM client certificate and key, for parts that ask for one (mutual TLS). */
  cert?: string;
  key?: string;
  /** false accepts any certificate: for local trials only, never in production. */
  rejectUnauthorized: boolean;
  /** The name the certificate must carry, when it differs from the host connected to. */
  servername?: string;
}

export type SaslMechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512';

export interface SaslSettings {
  mechanism: SaslMechanism;
  username: string;
  password: SecretSetting;
}

export interface BasicAuthSettings {
  username: string;
  password: SecretSetting;
}

/** Where one app listens; absent fields keep the app's default (127.0.0.1 and its own port). */
export interface AppListenSettings {
  host?: string;
  port?: number;
}

export const APP_NAMES = ['registry', 'materializer', 'compactor', 'jobs', 'serving', 'dev', 'ui'] as const;
export type AppName = (typeof APP_NAMES)[number];
export type AppsSettings = Partial<Record<AppName, AppListenSettings>>;

/** Settings that hold secrets: kept as references by loading, and never repeated in messages. */
export const SECRET_SETTINGS: ReadonlyArray<ReadonlyArray<string>> = [
  ['log', 'sasl', 'password'],
  ['schemaRegistry', 'basicAuth', 'password'],
  ['onlineStore', 'password'],
];

export function isSecretSetting(path: ReadonlyArray<string | number>): boolean {
  return SECRET_SETTINGS.some(
    (secret) => secret.length === path.length && secret.every((part, i) => part === String(path[i])),
  );
}

/**
 * Marks the secrets of a parsed featurelog.yaml so that interpolation leaves them as written (each
 * `$` doubled reads back as itself): they are resolved later, by resolveSecret. Returns a copy.
 */
export function deferSecretInterpolation(document: unknown): unknown {
  let copy = document;
  for (const path of SECRET_SETTINGS) {
    const value = valueAt(copy, path);
    if (typeof value === 'string') copy = withValueAt(copy, path, value.replace(/\$/g, '$$$$'));
  }
  return copy;
}

/**
 * The value of a secret setting, from the environment; throws CONFIG_SECRET_UNSET naming the setting
 * and the variable when the variable is unset (or empty) and the reference has no default.
 */
export function resolveSecret(
  secret: SecretSetting,
  env: Readonly<Record<string, string | undefined>> = process.env,
): string {
  const problems: InterpolationProblem[] = [];
  const value = interpolateEnv(secret.reference, env, problems, secret.setting.split('.')) as string;
  if (problems.length > 0) {
    throw new FeaturelogError(
      'CONFIG_SECRET_UNSET',
      `${secret.setting} in featurelog.yaml: ${problems.map((problem) => problem.message).join('; ')}`,
    );
  }
  if (value === '') {
    throw new FeaturelogError('CONFIG_SECRET_UNSET', `${secret.setting} in featurelog.yaml resolves to an empty value`);
  }
  return value;
}

// What loading hands over from the validated document (the schema has checked the shapes).
export type RawTls =
  boolean | { ca?: string; cert?: string; key?: string; rejectUnauthorized?: boolean; servername?: string };
export interface RawSasl {
  mechanism: SaslMechanism;
  username: string;
  password: string;
}

/** `tls:` of a section, with paths made absolute against the repo; undefined when TLS is off. */
export function tlsSettings(raw: RawTls | undefined, repoDir: string): TlsSettings | undefined {
  if (raw === undefined || raw === false) return undefined;
  if (raw === true) return { rejectUnauthorized: true };
  const path = (file: string) => (isAbsolute(file) ? file : resolve(repoDir, file));
  const tls: TlsSettings = { rejectUnauthorized: raw.rejectUnauthorized ?? true };
  if (raw.ca !== undefined) tls.ca = path(raw.ca);
  if (raw.cert !== undefined) tls.cert = path(raw.cert);
  if (raw.key !== undefined) tls.key = path(raw.key);
  if (raw.servername !== undefined) tls.servername = raw.servername;
  return tls;
}

export function saslSettings(raw: RawSasl | undefined, section: string): SaslSettings | undefined {
  if (raw === undefined) return undefined;
  return {
    mechanism: raw.mechanism,
    username: raw.username,
    password: { setting: `${section}.sasl.password`, reference: raw.password },
  };
}

export function basicAuthSettings(
  raw: { username: string; password: string } | undefined,
  section: string,
): BasicAuthSettings | undefined {
  if (raw === undefined) return undefined;
  return { username: raw.username, password: { setting: `${section}.basicAuth.password`, reference: raw.password } };
}

/** What the schema cannot say: a client certificate needs its key, and the reverse. */
export function connectionProblems(value: unknown): Array<{ path: Array<string | number>; message: string }> {
  const problems: Array<{ path: Array<string | number>; message: string }> = [];
  for (const section of ['log', 'schemaRegistry', 'onlineStore']) {
    const tls = valueAt(value, [section, 'tls']);
    if (tls === null || typeof tls !== 'object') continue;
    const { cert, key } = tls as { cert?: unknown; key?: unknown };
    if ((cert === undefined) !== (key === undefined)) {
      problems.push({
        path: [section, 'tls', cert === undefined ? 'cert' : 'key'],
        message: 'a client certificate needs both cert and key',
      });
    }
  }
  return problems;
}

const HOST_ENV: Record<AppName, string> = {
  registry: 'FEATURELOG_REGISTRY_HOST',
  materializer: 'FEATURELOG_MATERIALIZER_HOST',
  compactor: 'FEATURELOG_COMPACTOR_HOST',
  jobs: 'FEATURELOG_JOBS_HOST',
  serving: 'FEATURELOG_SERVING_HOST',
  dev: 'FEATURELOG_DEV_HOST',
  ui: 'FEATURELOG_UI_HOST',
};

export const DEFAULT_APP_HOST = '127.0.0.1';

/**
 * The ports the WHATWG fetch standard calls bad: browsers and Node's own `fetch` refuse to connect to
 * them ("bad port", ERR_UNSAFE_PORT) whoever listens there, so an app on one of them is unreachable
 * from a web page, a fetch-based client or `featurelog dev`'s own health checks. (Feast's feature
 * server default, 6566, is one of them.)
 */
export const FETCH_BLOCKED_PORTS: ReadonlySet<number> = new Set([
  1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104, 109, 110,
  111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532,
  540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061,
  6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
]);

/**
 * Where an app listens: FEATURELOG_<APP>_HOST / _PORT win over `apps.<app>` of featurelog.yaml,
 * which wins over the defaults. A variable that is not a port is an error naming it, and so is a port
 * that fetch refuses (FETCH_BLOCKED_PORTS), naming where it came from.
 */
export function appListenAddress(
  apps: AppsSettings | undefined,
  app: AppName,
  defaultPort: number,
  env: Readonly<Record<string, string | undefined>> = process.env,
): { host: string; port: number } {
  const hostVariable = HOST_ENV[app];
  const portVariable = hostVariable.replace(/_HOST$/, '_PORT');
  const configured = apps?.[app] ?? {};
  const host = nonEmpty(env[hostVariable]) ?? configured.host ?? DEFAULT_APP_HOST;
  const rawPort = nonEmpty(env[portVariable]);
  let port = configured.port ?? defaultPort;
  if (rawPort !== undefined) {
    port = Number(rawPort);
    if (!Number.isInteger(port) || port < 0 || port > 65_535) {
      throw new FeaturelogError(
        'CONFIG_INVALID',
        `${portVariable}=${JSON.stringify(rawPort)} is not a TCP port: expected an integer from 0 to 65535`,
      );
    }
  }
  if (FETCH_BLOCKED_PORTS.has(port)) {
    const from =
      rawPort !== undefined
        ? portVariable
        : configured.port !== undefined
          ? `apps.${app}.port of featurelog.yaml`
          : `its default port (with featurelog dev's --port-offset, if given)`;
    throw new FeaturelogError(
      'CONFIG_INVALID',
      `port ${port} for ${app} (from ${from}) is one browsers and Node's fetch refuse to connect to ` +
        `(a "bad port" of the fetch standard): choose another port`,
    );
  }
  return { host, port };
}

/** Where the web UI (apps/ui) listens unless featurelog.yaml or FEATURELOG_UI_PORT says otherwise. */
export const DEFAULT_UI_PORT = 6575;

/**
 * The origins a browser gives the web UI's page, which every app lets call it with a key (CORS; see
 * ApiKeysConfig.browserOrigins): the UI's address as appListenAddress gives it (a local or wildcard
 * host as both 127.0.0.1 and localhost), plus FEATURELOG_UI_ORIGINS (comma-separated, e.g.
 * `https://features.example.com`) for a UI reached through a proxy or a public name.
 */
export function uiBrowserOrigins(
  apps: AppsSettings | undefined,
  env: Readonly<Record<string, string | undefined>> = process.env,
): string[] {
  const { host, port } = appListenAddress(apps, 'ui', DEFAULT_UI_PORT, env);
  const local = ['127.0.0.1', 'localhost', '0.0.0.0', '::', '::1'].includes(host);
  const hosts = local ? ['127.0.0.1', 'localhost'] : [host.includes(':') ? `[${host}]` : host];
  const extra = (nonEmpty(env.FEATURELOG_UI_ORIGINS) ?? '')
    .split(',')
    .map((origin) => origin.trim())
    .filter(Boolean);
  return [...hosts.map((name) => `http://${name}:${port}`), ...extra];
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function valueAt(value: unknown, path: ReadonlyArray<string>): unknown {
  let current = value;
  for (const key of path) {
    if (current === null || typeof current !== 'object' || Array.isArray(current)) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

function withValueAt(value: unknown, path: ReadonlyArray<string>, replacement: unknown): unknown {
  if (path.length === 0) return replacement;
  const record = value as Record<string, unknown>;
  const [head, ...rest] = path;
  return { ...record, [head!]: withValueAt(record[head!], rest, replacement) };
}
