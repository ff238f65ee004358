import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { FeaturelogError } from '@featurelog/domain';
import { API_KEY_ENV, API_KEY_FILE_ENV } from './api-key-env';

/** The global key options of the `featurelog` command. */
export interface ApiKeyOptions {
  apiKey?: string;
  apiKeyFile?: string;
}

export { API_KEY_ENV, API_KEY_FILE_ENV };

/**
 * The API key this command presents to the apps it calls (dev's log bridge, the registry, serving):
 * `--api-key`, else `--api-key-file`, else FEATURELOG_API_KEY, else FEATURELOG_API_KEY_FILE; none is
 * fine (the apps then say when they need one). A key file holds the key alone (a trailing newline is
 * dropped). No message ever holds the key.
 */
export async function clientApiKey(
  options: ApiKeyOptions,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<string | undefined> {
  if (options.apiKey !== undefined) return nonEmpty(options.apiKey, '--api-key');
  if (options.apiKeyFile !== undefined) return keyFile(options.apiKeyFile, '--api-key-file');
  const fromEnv = env[API_KEY_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const file = env[API_KEY_FILE_ENV];
  if (file !== undefined && file !== '') return keyFile(file, API_KEY_FILE_ENV);
  return undefined;
}

async function keyFile(path: string, from: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(resolve(path), 'utf8');
  } catch (cause) {
    throw new FeaturelogError(
      'API_KEY_FILE_UNREADABLE',
      `cannot read the API key file ${path} (from ${from}): ${(cause as NodeJS.ErrnoException).code ?? String(cause)}`,
    );
  }
  return nonEmpty(text.replace(/\r?\n$/, ''), `the API key file ${path} (from ${from})`);
}

function nonEmpty(key: string, from: string): string {
  if (key.trim() === '' || /\s/.test(key)) {
    throw new FeaturelogError('INVALID_OPTION', `${from} must hold one API key: no blanks, no spaces, one line`);
  }
  return key;
}
