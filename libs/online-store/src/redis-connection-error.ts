import {
  ConnectionSettingError,
  connectionFailureMessage,
  errorChain,
  tlsFailureSetting,
  tlsSettingError,
  type ConnectionFailureKind,
} from '@featurelog/domain';

/** Redis' answers to a refused AUTH (ACL user or password wrong, user off) or to a command sent without one. */
const AUTH_REPLY = /^(WRONGPASS|NOAUTH|NOPERM)\b|invalid (username-)?password/;

function settingFor(kind: ConnectionFailureKind, section: string, reply: string): string {
  if (kind !== 'authentication') return tlsFailureSetting(kind, section, 'url', 'rediss://');
  return reply.startsWith('NOPERM')
    ? `${section}.username (its ACL rules)`
    : `${section}.username / ${section}.password`;
}

/**
 * An ioredis (or socket) error that a setting must fix, as a ConnectionSettingError naming it
 * (`REDIS_AUTH_FAILED`, `REDIS_TLS_UNTRUSTED` …); undefined for every other error.
 */
export function redisSettingError(
  error: unknown,
  endpoint: string,
  section = 'onlineStore',
): ConnectionSettingError | undefined {
  if (error instanceof ConnectionSettingError) return error;
  for (const link of errorChain(error)) {
    const message = link.message ?? '';
    if (AUTH_REPLY.test(message)) {
      return new ConnectionSettingError(
        'redis',
        'authentication',
        settingFor('authentication', section, message),
        connectionFailureMessage('authentication', endpoint, message),
        error,
      );
    }
  }
  return tlsSettingError('redis', error, endpoint, (kind) => settingFor(kind, section, ''));
}
