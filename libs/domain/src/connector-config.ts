import type { ConnectorDefinition } from './definitions';

/**
 * A reference to an environment variable in a connector's config: `${PG_PASSWORD}`. It is what the
 * registry log stores; the reconciler replaces it with the variable's value only in the request that
 * sends the config to the Connect worker. Connect's own config providers (`${env:X}`, `${file:path:key}`)
 * have a colon and are left to the worker.
 */
export const SECRET_REFERENCE_PATTERN = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** Any `${…}` that is neither a secret reference nor a Connect config-provider reference is a typo. */
const ANY_PLACEHOLDER = /\$\{([^}]*)\}/g;
const CONNECT_PROVIDER_REFERENCE = /^[A-Za-z0-9_.-]+:[^}]*$/;

/**
 * Config keys that hold secrets: their values must be references (to an environment variable, or to
 * a Connect config provider), never the secret itself, so no secret is ever written to the log.
 */
export const SECRET_CONFIG_KEY = /(password|secret|token|credentials?|jaas\.config|api\.key|private\.key)$/i;

/** Names of the environment variables a config value refers to, in order of appearance. */
export function secretReferencesIn(value: string): string[] {
  return [...value.matchAll(SECRET_REFERENCE_PATTERN)].map((match) => match[1]!);
}

/** Placeholders in a value that are malformed (`${}`, `${pg-password}`), for validation. */
export function malformedPlaceholders(value: string): string[] {
  return [...value.matchAll(ANY_PLACEHOLDER)]
    .map((match) => match[1]!)
    .filter((inner) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(inner) && !CONNECT_PROVIDER_REFERENCE.test(inner))
    .map((inner) => `\${${inner}}`);
}

/** Whether a value refers to something (an environment variable or a Connect config provider) rather than holding it. */
export function isReference(value: string): boolean {
  return /^\$\{[^}]+\}$/.test(value.trim());
}

export interface ResolvedConnectorConfig {
  /** The config as the worker gets it: `name`, `connector.class` and the resolved values. */
  config: Record<string, string>;
  /** Variables referred to but not set, each with the config key that needs it. */
  missing: Array<{ key: string; variable: string }>;
}

/**
 * The config the Connect worker is sent: the definition's config with `connector.class` and `name`,
 * and every `${VAR}` replaced by the variable's value. Unset variables are listed in `missing` and
 * left as written (callers refuse to send such a config, or, for validation only, send it as is).
 */
export function resolveConnectorConfig(
  connector: Pick<ConnectorDefinition, 'name' | 'connectorClass' | 'config'>,
  env: Readonly<Record<string, string | undefined>>,
): ResolvedConnectorConfig {
  const missing: ResolvedConnectorConfig['missing'] = [];
  const config: Record<string, string> = {};
  for (const [key, value] of Object.entries(connector.config)) {
    config[key] = value.replace(SECRET_REFERENCE_PATTERN, (whole, variable: string) => {
      const resolved = env[variable];
      if (resolved === undefined) {
        missing.push({ key, variable });
        return whole;
      }
      return resolved;
    });
  }
  config['connector.class'] = connector.connectorClass;
  config.name = connector.name;
  return { config, missing };
}
