import { readFile } from 'node:fs/promises';
import type { ConnectionOptions } from 'node:tls';
import { resolveSecret, type SecretSetting, type TlsSettings } from '@featurelog/config';
import { FeaturelogError } from '@featurelog/domain';

/**
 * Node TLS options from a `tls:` slice of featurelog.yaml, the PEM files read now (when the
 * connection opens, not when the file is loaded). An unreadable file is an error naming the setting.
 */
export async function tlsConnectionOptions(tls: TlsSettings, section: string): Promise<ConnectionOptions> {
  const read = async (field: 'ca' | 'cert' | 'key'): Promise<Record<string, string>> => {
    const file = tls[field];
    if (file === undefined) return {};
    try {
      return { [field]: await readFile(file, 'utf8') };
    } catch (cause) {
      throw new FeaturelogError(
        'CONFIG_FILE_UNREADABLE',
        `${section}.tls.${field} in featurelog.yaml: cannot read ${file} (${(cause as NodeJS.ErrnoException).code ?? String(cause)})`,
        { cause },
      );
    }
  };
  return {
    ...(await read('ca')),
    ...(await read('cert')),
    ...(await read('key')),
    rejectUnauthorized: tls.rejectUnauthorized,
    ...(tls.servername !== undefined && { servername: tls.servername }),
  };
}

/** The secret's value from the environment, now (see resolveSecret). */
export function secretValue(secret: SecretSetting): string {
  return resolveSecret(secret);
}
