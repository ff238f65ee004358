import { createHash, timingSafeEqual } from 'node:crypto';
import { FeaturelogError } from '@featurelog/domain';

export const API_KEY_SCOPES = ['read', 'push', 'apply'] as const;
/** `read` online features (and subscribe), `push` rows, `apply` definitions. */
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

/**
 * API keys of one project. A key is given either in clear (`key`, e.g. from an env var) or as the
 * lowercase hex SHA-256 of the key (`sha256`), so a config file need not hold the secret.
 * Empty or absent `apiKeys` disables authentication (local development only).
 */
export interface ApiKeysConfig {
  apiKeys?: Array<{ name: string; key?: string; sha256?: string; scopes: ApiKeyScope[] }>;
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

  constructor(config: ApiKeysConfig = {}) {
    const names = new Set<string>();
    this.keys = (config.apiKeys ?? []).map((entry, i) => {
      const where = `auth.apiKeys[${i}]`;
      if (typeof entry.name !== 'string' || entry.name === '') {
        throw new FeaturelogError('INVALID_CONFIG', `${where}.name must be a non-empty string`);
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

  /** The caller, if its key is valid and holds `scope`. Throws UNAUTHENTICATED (401) or FORBIDDEN (403). */
  authorize(headers: RequestHeaders, scope: ApiKeyScope): Caller {
    if (this.keys.length === 0) return ANONYMOUS;
    const presented = presentedKey(headers);
    if (presented === undefined) {
      throw new FeaturelogError(
        'UNAUTHENTICATED',
        'an API key is required: send it as "Authorization: Bearer <key>" or "X-API-Key: <key>"',
      );
    }
    const digest = sha256(presented);
    let found: StoredKey | undefined;
    // Every stored digest is compared, so the time taken does not tell which key came close.
    for (const key of this.keys) if (timingSafeEqual(key.digest, digest) && found === undefined) found = key;
    if (found === undefined) throw new FeaturelogError('UNAUTHENTICATED', 'the API key is not valid');
    if (!found.scopes.has(scope)) {
      throw new FeaturelogError('FORBIDDEN', `API key "${found.name}" does not have the "${scope}" scope`);
    }
    return { name: found.name };
  }
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
