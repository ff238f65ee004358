import { isIP } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import {
  ConnectionSettingError,
  connectionFailureMessage,
  errorChain,
  tlsFailureSetting,
  tlsSettingError,
  type ConnectionFailureKind,
} from '@featurelog/domain';

export type KafkaSaslMechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512';

/** SASL credentials; the password is never logged nor kept in the log's visible settings. */
export interface KafkaSasl {
  mechanism: KafkaSaslMechanism;
  username: string;
  password: string;
}

/** TLS towards the brokers: true for the system's CAs, or Node's TLS options (ca, cert, key, servername …). */
export type KafkaTls = true | ConnectionOptions;

/**
 * The setting of featurelog.yaml that a failure points at, under `section` (the Kafka slice, `log`).
 * A refused SASL mechanism is the mechanism's fault; other refusals the credentials'.
 */
function settingFor(kind: ConnectionFailureKind, section: string, mechanismRefused: boolean): string {
  if (kind !== 'authentication') return tlsFailureSetting(kind, section, 'brokers');
  return mechanismRefused ? `${section}.sasl.mechanism` : `${section}.sasl.username / ${section}.sasl.password`;
}

/**
 * A kafkajs (or socket) error that a setting must fix, as a ConnectionSettingError naming it; undefined
 * for every other error (unavailable brokers, protocol errors), which the caller maps as before.
 * kafkajs itself gives up at once on an authentication failure (KafkaJSSASLAuthenticationError is not
 * retriable for it), while TLS failures surface only after its connection retries: see tlsPreflight.
 */
export function kafkaSettingError(
  error: unknown,
  endpoint: string,
  section = 'log',
): ConnectionSettingError | undefined {
  if (error instanceof ConnectionSettingError) return error;
  const chain = [...errorChain(error)];
  const refusedMechanism = chain.find((link) => (link as { type?: string }).type === 'UNSUPPORTED_SASL_MECHANISM');
  const authentication = chain.find(
    (link) =>
      link.name === 'KafkaJSSASLAuthenticationError' ||
      (link as { type?: string }).type === 'SASL_AUTHENTICATION_FAILED',
  );
  const failed = refusedMechanism ?? authentication;
  if (failed) {
    return new ConnectionSettingError(
      'kafka',
      'authentication',
      settingFor('authentication', section, refusedMechanism !== undefined),
      connectionFailureMessage('authentication', endpoint, failed.message ?? 'refused'),
      error,
    );
  }
  return tlsSettingError(
    'kafka',
    error,
    endpoint,
    (kind) => settingFor(kind, section, false),
    () => chain.map((link) => link.message).find((message) => message !== undefined) ?? String(error),
  );
}

/**
 * One TLS handshake with each bootstrap broker in turn, before kafkajs connects: kafkajs treats a
 * failed handshake like a dropped connection and retries it for seconds, then reports only that the
 * broker was unreachable. The first certificate or handshake failure is thrown at once, mapped;
 * a broker that does not answer is skipped (kafkajs then reports it unavailable as usual).
 */
export async function tlsPreflight(
  brokers: readonly string[],
  tls: KafkaTls,
  timeoutMs: number,
  section = 'log',
): Promise<void> {
  const options: ConnectionOptions = tls === true ? {} : tls;
  for (const broker of brokers) {
    const separator = broker.lastIndexOf(':');
    const host = broker.slice(0, separator);
    const port = Number(broker.slice(separator + 1));
    const failure = await new Promise<unknown>((resolve) => {
      const socket = tlsConnect({
        host,
        port,
        ...(isIP(host) === 0 ? { servername: host } : {}),
        ...options,
        timeout: timeoutMs,
      });
      const done = (outcome: unknown) => {
        socket.destroy();
        resolve(outcome);
      };
      socket.once('secureConnect', () => done(null));
      socket.once('timeout', () => done(undefined));
      socket.once('error', (error) => done(error));
    });
    if (failure === null) return;
    const mapped = failure === undefined ? undefined : kafkaSettingError(failure, broker, section);
    if (mapped) throw mapped;
  }
}
