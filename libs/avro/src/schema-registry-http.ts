import * as http from 'node:http';
import * as https from 'node:https';
import type { ConnectionOptions } from 'node:tls';
import {
  ConnectionSettingError,
  connectionFailureMessage,
  tlsFailureSetting,
  tlsSettingError,
  type ConnectionFailureKind,
} from '@featurelog/domain';

export interface SchemaRegistryBasicAuth {
  username: string;
  password: string;
}

/** One HTTP exchange with the registry: status and body text, or a thrown socket / TLS / timeout error. */
export interface RegistryHttpResponse {
  status: number;
  ok: boolean;
  text: string;
}

/**
 * HTTP(S) to a schema registry through node:http / node:https rather than fetch: fetch takes no CA
 * or client certificate without an extra dependency. One keep-alive agent per registry; the
 * Authorization header is built once and never logged.
 */
export class RegistryHttpClient {
  private readonly agent: http.Agent;
  private readonly authorization: string | undefined;
  private readonly secure: boolean;

  constructor(baseUrl: string, { tls, basicAuth }: { tls?: ConnectionOptions; basicAuth?: SchemaRegistryBasicAuth }) {
    this.secure = baseUrl.startsWith('https:');
    this.agent = this.secure ? new https.Agent({ keepAlive: true, ...tls }) : new http.Agent({ keepAlive: true });
    this.authorization =
      basicAuth === undefined
        ? undefined
        : `Basic ${Buffer.from(`${basicAuth.username}:${basicAuth.password}`).toString('base64')}`;
  }

  request(
    url: string,
    method: string,
    headers: Record<string, string>,
    body: string | undefined,
    timeoutMs: number,
  ): Promise<RegistryHttpResponse> {
    const transport = this.secure ? https : http;
    return new Promise((resolve, reject) => {
      const request = transport.request(
        url,
        {
          method,
          agent: this.agent,
          headers: {
            ...headers,
            ...(this.authorization !== undefined && { authorization: this.authorization }),
            ...(body !== undefined && { 'content-length': String(Buffer.byteLength(body)) }),
          },
          signal: AbortSignal.timeout(timeoutMs),
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('error', reject);
          response.on('end', () => {
            const status = response.statusCode ?? 0;
            resolve({ status, ok: status >= 200 && status < 300, text: Buffer.concat(chunks).toString('utf8') });
          });
        },
      );
      request.on('error', reject);
      request.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

function settingFor(kind: ConnectionFailureKind, section: string, hasCredentials: boolean): string {
  if (kind !== 'authentication') return tlsFailureSetting(kind, section, 'url', 'https://');
  return hasCredentials
    ? `${section}.basicAuth.username / ${section}.basicAuth.password`
    : `${section}.basicAuth (the registry asks for credentials)`;
}

/** A TLS failure of a request to the registry as a ConnectionSettingError naming the setting; undefined otherwise. */
export function registryTlsError(
  error: unknown,
  endpoint: string,
  section: string,
): ConnectionSettingError | undefined {
  return tlsSettingError('schema registry', error, endpoint, (kind) => settingFor(kind, section, false));
}

/** 401 / 403 from the registry: the credentials (or their absence) are wrong. */
export function registryAuthError(
  status: number,
  endpoint: string,
  section: string,
  hasCredentials: boolean,
): ConnectionSettingError | undefined {
  if (status !== 401 && status !== 403) return undefined;
  return new ConnectionSettingError(
    'schema registry',
    'authentication',
    settingFor('authentication', section, hasCredentials),
    connectionFailureMessage(
      'authentication',
      endpoint,
      `HTTP ${status} ${status === 401 ? 'Unauthorized' : 'Forbidden'}${hasCredentials ? '' : ' and no basicAuth is configured'}`,
    ),
  );
}
