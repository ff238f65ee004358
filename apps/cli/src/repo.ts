import { resolve } from 'node:path';
import { loadFeatureRepo, loadProjectConfig, type FeatureRepo } from '@featurelog/config';
import type { ProjectConfig } from '@featurelog/config';
import { ProjectRuntime } from '@featurelog/runtime';

export interface RepoOptions {
  repo: string;
}

export async function loadRepo(options: RepoOptions): Promise<FeatureRepo> {
  return loadFeatureRepo(resolve(options.repo));
}

export async function loadConfig(options: RepoOptions): Promise<ProjectConfig> {
  return loadProjectConfig(resolve(options.repo));
}

/** Opens the project's ports for one command and always closes them. */
export async function withRuntime<T>(config: ProjectConfig, work: (runtime: ProjectRuntime) => Promise<T>): Promise<T> {
  const runtime = await ProjectRuntime.open(config);
  try {
    return await work(runtime);
  } finally {
    await runtime.close();
  }
}
