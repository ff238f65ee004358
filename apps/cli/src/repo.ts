import { resolve } from 'node:path';
import { loadFeatureRepo, loadProjectConfig, type FeatureRepo } from '@featurelog/config';
import type { ProjectConfig } from '@featurelog/config';
import { ProjectRuntime } from '@featurelog/runtime';
import { clientApiKey, type ApiKeyOptions } from './api-key';

export interface RepoOptions extends ApiKeyOptions {
  repo: string;
}

export async function loadRepo(options: RepoOptions): Promise<FeatureRepo> {
  return loadFeatureRepo(resolve(options.repo));
}

export async function loadConfig(options: RepoOptions): Promise<ProjectConfig> {
  return loadProjectConfig(resolve(options.repo));
}

/**
 * Opens the project's ports for one command and always closes them. The command's API key (see
 * clientApiKey) goes with every call to a running `featurelog dev` (its log bridge).
 */
export async function withRuntime<T>(
  config: ProjectConfig,
  options: ApiKeyOptions,
  work: (runtime: ProjectRuntime) => Promise<T>,
): Promise<T> {
  const runtime = await ProjectRuntime.open(config, { apiKey: await clientApiKey(options) });
  try {
    return await work(runtime);
  } finally {
    await runtime.close();
  }
}
