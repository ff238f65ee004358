import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { FeaturelogError, type FeatureViewDefinition, topicNames } from '@featurelog/domain';
import { type TopicSpec } from './event-log.port';

export const TOPIC_FAMILIES = ['registry', 'features', 'segments', 'jobs', 'dlq'] as const;
export type TopicFamily = (typeof TOPIC_FAMILIES)[number];

export interface TopicDeclaration {
  family: TopicFamily;
  /** What records are keyed by; documentation for people. */
  key: string;
  partitions: number;
  config: Record<string, string>;
}

export type TopicDeclarations = ReadonlyMap<TopicFamily, TopicDeclaration>;

/** Reads every `*.yaml` in `directory` (the repository's topics/); each family must be declared once. */
export async function loadTopicDeclarations(directory: string): Promise<TopicDeclarations> {
  const declarations = new Map<TopicFamily, TopicDeclaration>();
  const files = (await readdir(directory)).filter((file) => /\.ya?ml$/.test(file)).sort();
  for (const file of files) {
    const path = join(directory, file);
    const declaration = parseDeclaration(parse(await readFile(path, 'utf8')), path);
    if (declarations.has(declaration.family)) {
      throw new FeaturelogError('TOPIC_DECLARATION_INVALID', `${path}: family ${declaration.family} declared twice`);
    }
    declarations.set(declaration.family, declaration);
  }
  const missing = TOPIC_FAMILIES.filter((family) => !declarations.has(family));
  if (missing.length > 0) {
    throw new FeaturelogError('TOPIC_DECLARATION_MISSING', `${directory} declares no ${missing.join(', ')} topics`);
  }
  return declarations;
}

function parseDeclaration(raw: unknown, path: string): TopicDeclaration {
  const invalid = (what: string) => new FeaturelogError('TOPIC_DECLARATION_INVALID', `${path}: ${what}`);
  if (typeof raw !== 'object' || raw === null) throw invalid('expected a mapping');
  const { family, key, partitions, config } = raw as Record<string, unknown>;
  if (!TOPIC_FAMILIES.includes(family as TopicFamily)) {
    throw invalid(`family must be one of ${TOPIC_FAMILIES.join(', ')} (got ${JSON.stringify(family)})`);
  }
  if (typeof key !== 'string') throw invalid('key must be a string saying what records are keyed by');
  if (!Number.isInteger(partitions) || (partitions as number) < 1) throw invalid('partitions must be an integer >= 1');
  if (typeof config !== 'object' || config === null) throw invalid('config must be a mapping');
  const entries = Object.entries(config as Record<string, unknown>);
  for (const [name, value] of entries) {
    // Kafka configs are strings; a bare -1 in YAML would be a number and is refused, not guessed.
    if (typeof value !== 'string') throw invalid(`config ${name} must be a quoted string`);
  }
  return {
    family: family as TopicFamily,
    key,
    partitions: partitions as number,
    config: Object.fromEntries(entries) as Record<string, string>,
  };
}

/**
 * The spec to provision one topic of a family for a project. Feature topics need the view (a name
 * alone means version 1) and may ask for a partition count other than the declared default.
 */
export function topicSpecFor(
  declarations: TopicDeclarations,
  family: TopicFamily,
  project: string,
  view?: string | Pick<FeatureViewDefinition, 'name' | 'version'>,
  { partitions }: { partitions?: number } = {},
): TopicSpec {
  const declaration = declarations.get(family);
  if (!declaration) throw new FeaturelogError('TOPIC_DECLARATION_MISSING', `no declaration for ${family} topics`);
  let name: string;
  if (family === 'features') {
    if (view === undefined) {
      throw new FeaturelogError('TOPIC_SPEC_INVALID', 'a features topic needs the feature view it belongs to');
    }
    name = topicNames.features(project, typeof view === 'string' ? { name: view, version: 1 } : view);
  } else {
    name = topicNames[family](project);
  }
  if (partitions !== undefined && family !== 'features') {
    throw new FeaturelogError('TOPIC_SPEC_INVALID', `${family} topics have ${declaration.partitions} partition(s)`);
  }
  return { name, partitions: partitions ?? declaration.partitions, config: { ...declaration.config } };
}
