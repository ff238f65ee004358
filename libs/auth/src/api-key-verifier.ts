import { createHash, timingSafeEqual } from 'node:crypto';
import { FeaturelogError } from '@featurelog/domain';

export const API_KEY_SCOPES = ['read', 'push', 'apply', 'jobs', 'admin'] as const;
/**
 * What a key may do. `read`: online features, subscriptions, registry reads, the serving docs, health
 * details and metrics; `push`: POST /push; `apply`: plan and apply definitions; `jobs`: the jobs app
 * (which names every export's files); `admin`: the raw log of `featurelog dev` (its log bridge reads
 * and appends any topic, the registry's included). A scope implies no other.
 */
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

/**
 * API keys of one project. A key is given either in clear (`key`, e.g. from an env var) or as the
 * lowercase hex SHA-256 of the key (`sha256`), so a config file need not hold the secret.
 * Empty or absent `apiKeys` disables authentication (local development only).
 */
export interface ApiKeysConfig {
  apiKeys?: Array<{
    name: string;
    key?: string;
    sha256?: string;
    scopes: ApiKeyScope[];
    /**
     * Why the key cannot be known (e.g. the environment variable featurelog.yaml names for it is
     * unset): the configuration loads, so commands that check no key still run, and whatever checks
     * keys refuses to start, saying this.
     */
    unavailable?: string;
  }>;
  /**
   * Origins (`http://127.0.0.1:6575`) of the web pages whose scripts may call the app with a key:
   * the featurelog UI. Their CORS preflight is answered and their responses carry
   * `Access-Control-Allow-Origin` with that one origin; every other origin gets no CORS header, so a
   * browser keeps other pages' scripts out. Never `*`: a key would then work from any page.
   */
  browserOrigins?: string[];
}

interface StoredKey {
  name: string;
  digest: Buffer;
  scopes: ReadonlySet<ApiKeyScope>;
}

/** Who made a request: the key's name (never the key), or `anonymous` when auth is disabled. */
export interface Caller {
  name: string;
}

/** A caller whose key was valid, with what it may do. */
export interface KeyHolder extends Caller {
  scopes: ReadonlySet<ApiKeyScope>;
}

const ANONYMOUS: Caller = { name: 'anonymous' };

/** Request headers as Node gives them. */
export type RequestHeaders = Record<string, string | string[] | undefined>;

/**
 * Checks API keys against SHA-256 digests with timingSafeEqual. Only digests are kept in memory
 * after construction, and no message ever contains a presented key.
 * A key travels as `Authorization: Bearer <key>` or `X-API-Key: <key>`.
 */
export class ApiKeyVerifier {
  private readonly keys: StoredKey[];
  private readonly origins: ReadonlySet<string>;

  constructor(config: ApiKeysConfig = {}) {
    this.origins = new Set(
      (config.browserOrigins ?? []).map((origin, i) => {
        let parsed: URL | undefined;
        try {
          parsed = new URL(origin);
        } catch {
          parsed = undefined;
        }
        if (parsed === undefined || parsed.origin !== origin || !/^https?:$/.test(parsed.protocol)) {
          throw new FeaturelogError(
            'INVALID_CONFIG',
            `auth.browserOrigins[${i}] must be an origin like http://127.0.0.1:6575 (scheme, host, port; no path, no *), got ${JSON.stringify(origin)}`,
          );
        }
        return origin;
      }),
    );
    const names = new Set<string>();
    this.keys = (config.apiKeys ?? []).map((entry, i) => {
      const where = `auth.apiKeys[${i}]`;
      if (typeof entry.name !== 'string' || entry.name === '') {
        throw new FeaturelogError('INVALID_CONFIG', `${where}.name must be a non-empty string`);
      }
      if (entry.unavailable !== undefined) {
        throw new FeaturelogError(
          'CONFIG_INVALID',
          `API key "${entry.name}" cannot be checked: ${entry.unavailable}. Every app checks the API keys, ` +
            'so none can start without it: set the variable, or give the key as its sha256',
        );
      }
      if (names.has(entry.name))
        throw new FeaturelogError('INVALID_CONFIG', `${where}.name "${entry.name}" is used twice`);
      names.add(entry.name);
      const hasKey = typeof entry.key === 'string' && entry.key !== '';
      const hasDigest = typeof entry.sha256 === 'string' && entry.sha256 !== '';
      if (hasKey === hasDigest) {
        throw new FeaturelogError('INVALID_CONFIG', `${where} ("${entry.name}") needs exactly one of key or sha256`);
      }
      if (hasDigest && !/^[0-9a-f]{64}$/.test(entry.sha256!)) {
        throw new FeaturelogError(
          'INVALID_CONFIG',
          `${where}.sha256 ("${entry.name}") must be 64 lowercase hex characters (the SHA-256 of the key)`,
        );
      }
      if (!Array.isArray(entry.scopes) || entry.scopes.length === 0) {
        throw new FeaturelogError('INVALID_CONFIG', `${where}.scopes ("${entry.name}") must list at least one scope`);
      }
      for (const scope of entry.scopes) {
        if (!(API_KEY_SCOPES as readonly string[]).includes(scope)) {
          throw new FeaturelogError(
            'INVALID_CONFIG',
            `${where}.scopes ("${entry.name}") has "${String(scope)}"; expected one of ${API_KEY_SCOPES.join(', ')}`,
          );
        }
      }
      return {
        name: entry.name,
        digest: hasKey ? sha256(entry.key!) : Buffer.from(entry.sha256!, 'hex'),
        scopes: new Set(entry.scopes),
      };
    });
  }

  get enabled(): boolean {
    return this.keys.length > 0;
  }

  /** Whether a page of this origin may call the app from a browser (see ApiKeysConfig.browserOrigins). */
  allowsOrigin(origin: string): boolean {
    return this.origins.has(origin);
  }

  /** The caller, if its key is valid and holds `scope`. Throws UNAUTHENTICATED (401) or FORBIDDEN (403). */
  authorize(headers: RequestHeaders, scope: ApiKeyScope): Caller {
    if (this.keys.length === 0) return ANONYMOUS;
    const holder = this.identify(headers);
    if (holder === undefined) throw keyRequired();
    if (!holder.scopes.has(scope)) throw missingScope(holder, scope);
    return { name: holder.name };
  }

  /**
   * Who presented the request's key: undefined when it carries none (or auth is disabled); throws
   * UNAUTHENTICATED when it carries one that is not valid (a wrong key is never taken for no key).
   */
  identify(headers: RequestHeaders): KeyHolder | undefined {
    if (this.keys.length === 0) return undefined;
    const presented = presentedKey(headers);
    if (presented === undefined) return undefined;
    const digest = sha256(presented);
    let found: StoredKey | undefined;
    // Every stored digest is compared, so the time taken does not tell which key came close.
    for (const key of this.keys) if (timingSafeEqual(key.digest, digest) && found === undefined) found = key;
    if (found === undefined) throw new FeaturelogError('UNAUTHENTICATED', 'the API key is not valid');
    return { name: found.name, scopes: found.scopes };
  }
}

export function keyRequired(): FeaturelogError {
  return new FeaturelogError(
    'UNAUTHENTICATED',
    'an API key is required: send it as "Authorization: Bearer <key>" or "X-API-Key: <key>"',
  );
}

export function missingScope(holder: Caller, scope: ApiKeyScope): FeaturelogError {
  return new FeaturelogError('FORBIDDEN', `API key "${holder.name}" does not have the "${scope}" scope`);
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

function presentedKey(headers: RequestHeaders): string | undefined {
  const authorization = headers.authorization;
  if (typeof authorization === 'string') {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (match) return match[1];
  }
  const header = headers['x-api-key'];
  return typeof header === 'string' && header !== '' ? header : undefined;
}
