import { loadDefinitions, type LocatedDefinition } from './definition-files';
import { loadProjectConfig, type LoadConfigOptions, type ProjectConfig } from './project-config';

export interface FeatureRepo {
  config: ProjectConfig;
  definitions: LocatedDefinition[];
}

/** Settings and definitions of a feature repo folder, both validated (see loadProjectConfig, loadDefinitions). */
export async function loadFeatureRepo(repoDir: string, options: LoadConfigOptions = {}): Promise<FeatureRepo> {
  const config = await loadProjectConfig(repoDir, options);
  const definitions = await loadDefinitions(repoDir);
  return { config, definitions };
}
