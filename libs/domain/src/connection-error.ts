import { FeaturelogError } from './errors';

/** The parts featurelog connects to, as an operator names them. */
export type ConnectionComponent = 'kafka' | 'schema registry' | 'redis';

/**
 * Why a connection to a part failed, as far as the operator can act on it:
 * - `authentication`: the part refused the credentials (wrong user or password, unknown SASL mechanism);
 * - `untrusted-certificate`: the part's certificate does not chain to a trusted CA (self-signed, unknown CA);
 * - `certificate-name`: the certificate is trusted but not issued for the host connected to;
 * - `certificate-expired`: the certificate is outside its validity period;
 * - `tls-handshake`: no TLS session at all (a TLS client on a plaintext port, or the reverse).
 * None of these heals by retrying: they fail start-up at once.
 */
export type ConnectionFailureKind =
  'authentication' | 'untrusted-certificate' | 'certificate-name' | 'certificate-expired' | 'tls-handshake';

const CODE_PREFIX: Record<ConnectionComponent, string> = {
  kafka: 'KAFKA',
  'schema registry': 'SCHEMA_REGISTRY',
  redis: 'REDIS',
};

const CODE_SUFFIX: Record<ConnectionFailureKind, string> = {
  authentication: 'AUTH_FAILED',
  'untrusted-certificate': 'TLS_UNTRUSTED',
  'certificate-name': 'TLS_NAME_MISMATCH',
  'certificate-expired': 'TLS_EXPIRED',
  'tls-handshake': 'TLS_HANDSHAKE_FAILED',
};

/**
 * A connection to Kafka, the schema registry or Redis failed for a reason that a setting of
 * featurelog.yaml must fix. Its code is `<COMPONENT>_<KIND>` (e.g. `KAFKA_AUTH_FAILED`,
 * `REDIS_TLS_UNTRUSTED`); the message names the part and the setting, never a secret. Not retriable.
 */
export class ConnectionSettingError extends FeaturelogError {
  constructor(
    readonly component: ConnectionComponent,
    readonly kind: ConnectionFailureKind,
    /** The setting of featurelog.yaml to fix, e.g. `log.sasl.password`, `onlineStore.tls.ca`. */
    readonly setting: string,
    message: string,
    cause?: unknown,
  ) {
    super(`${CODE_PREFIX[component]}_${CODE_SUFFIX[kind]}`, `${component}: ${message} (check ${setting})`, {
      retriable: false,
      cause,
    });
  }
}

/** Node's (OpenSSL's) verification codes, by what the operator must change. */
const TLS_CODES: Record<string, ConnectionFailureKind> = {
  SELF_SIGNED_CERT_IN_CHAIN: 'untrusted-certificate',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'untrusted-certificate',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'untrusted-certificate',
  UNABLE_TO_GET_ISSUER_CERT: 'untrusted-certificate',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'untrusted-certificate',
  CERT_UNTRUSTED: 'untrusted-certificate',
  CERT_SIGNATURE_FAILURE: 'untrusted-certificate',
  CERT_REJECTED: 'untrusted-certificate',
  INVALID_CA: 'untrusted-certificate',
  ERR_TLS_CERT_ALTNAME_INVALID: 'certificate-name',
  HOSTNAME_MISMATCH: 'certificate-name',
  CERT_HAS_EXPIRED: 'certificate-expired',
  CERT_NOT_YET_VALID: 'certificate-expired',
  ERR_SSL_WRONG_VERSION_NUMBER: 'tls-handshake',
  ERR_SSL_PACKET_LENGTH_TOO_LONG: 'tls-handshake',
  ERR_SSL_UNSUPPORTED_PROTOCOL: 'tls-handshake',
  ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION: 'tls-handshake',
  EPROTO: 'tls-handshake',
};

/** Every error of a chain: `cause`, and kafkajs' `originalError`. */
export function* errorChain(error: unknown): Generator<{ name?: string; code?: unknown; message?: string }> {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current !== null && typeof current === 'object' && !seen.has(current)) {
    seen.add(current);
    yield current as { name?: string; code?: unknown; message?: string };
    const wrapped = current as { cause?: unknown; originalError?: unknown };
    current = wrapped.cause ?? wrapped.originalError;
  }
}

/**
 * The TLS failure a socket error stands for, from its code anywhere in the cause chain, or
 * undefined when it is not one (a refused or dropped connection, a timeout: those may heal).
 */
export function tlsFailureKind(error: unknown): ConnectionFailureKind | undefined {
  for (const link of errorChain(error)) {
    const code = typeof link.code === 'string' ? link.code : undefined;
    if (code !== undefined && TLS_CODES[code] !== undefined) return TLS_CODES[code];
    // A TLS client cut off by a plaintext server before the handshake ends says only this.
    if (link.message?.includes('before secure TLS connection was established')) return 'tls-handshake';
  }
  return undefined;
}

/**
 * The setting of featurelog.yaml a failure other than authentication points at, under `section`:
 * `address` is where the part is reached (`url`, `brokers`), `scheme` what turns TLS on there
 * (`rediss://`), if anything does. Authentication is each part's own (credentials differ).
 */
export function tlsFailureSetting(
  kind: Exclude<ConnectionFailureKind, 'authentication'>,
  section: string,
  address: string,
  scheme?: string,
): string {
  switch (kind) {
    case 'untrusted-certificate':
      return `${section}.tls.ca`;
    case 'certificate-name':
      return `${section}.${address} (or ${section}.tls.servername)`;
    case 'certificate-expired':
      return `${section}.${address}`;
    case 'tls-handshake':
      return scheme === undefined
        ? `${section}.tls and ${section}.${address}`
        : `${section}.${address} (${scheme} for TLS) and ${section}.tls`;
  }
}

/** What an operator reads for each kind; `detail` is the driver's own reason (never a secret). */
export function connectionFailureMessage(kind: ConnectionFailureKind, endpoint: string, detail: string): string {
  switch (kind) {
    case 'authentication':
      return `authentication to ${endpoint} was refused: ${detail}`;
    case 'untrusted-certificate':
      return `the certificate of ${endpoint} is not trusted (${detail}); name the CA that signed it`;
    case 'certificate-name':
      return `the certificate of ${endpoint} is not issued for that host (${detail})`;
    case 'certificate-expired':
      return `the certificate of ${endpoint} is outside its validity period (${detail})`;
    case 'tls-handshake':
      return `no TLS session with ${endpoint} (${detail}); is it a TLS endpoint, and is TLS configured for it?`;
  }
}

/**
 * A TLS failure (see tlsFailureKind) of a connection to `component` as a ConnectionSettingError naming
 * `setting(kind)`; undefined for every other error. `detail` is what the operator reads as the reason:
 * by default the first non-empty message of the cause chain.
 */
export function tlsSettingError(
  component: ConnectionComponent,
  error: unknown,
  endpoint: string,
  setting: (kind: ConnectionFailureKind) => string,
  detail: (error: unknown) => string = firstMessage,
): ConnectionSettingError | undefined {
  const kind = tlsFailureKind(error);
  if (kind === undefined) return undefined;
  return new ConnectionSettingError(
    component,
    kind,
    setting(kind),
    connectionFailureMessage(kind, endpoint, detail(error)),
    error,
  );
}

function firstMessage(error: unknown): string {
  return [...errorChain(error)].map((link) => link.message).find(Boolean) ?? String(error);
}
