import type { EntityDefinition, FeatureDefinition, FeatureViewDefinition, JoinKey } from './definitions';
import { FeaturelogError } from './errors';
import { requireDefinition, type DefinitionSource } from './registry-state';
import { parseFeatureReference } from './validation';

/**
 * The join keys of a view: those of its entities, in the order the view lists them, each entity's in
 * its own order. `entities` is where to look the entities up: the registry or a list of definitions,
 * or the entity definitions themselves. An entity not found throws UNKNOWN_ENTITY.
 *
 * Validation refuses views whose entities share a join key; should two still do (a registry written
 * before that rule), the view has one column of that name, as in its row schema, and two types for one
 * name throw INVALID_FEATURE_VIEW.
 */
export function viewJoinKeys(
  entities: DefinitionSource | readonly EntityDefinition[],
  view: FeatureViewDefinition,
): JoinKey[] {
  const keys: JoinKey[] = [];
  for (const name of view.entities) {
    for (const key of entityNamed(entities, name).joinKeys) {
      const seen = keys.find((known) => known.name === key.name);
      if (seen === undefined) keys.push(key);
      else if (seen.type !== key.type) {
        throw new FeaturelogError(
          'INVALID_FEATURE_VIEW',
          `view "${view.name}" has join key "${key.name}" twice with different types (${seen.type}, ${key.type})`,
        );
      }
    }
  }
  return keys;
}

function entityNamed(entities: DefinitionSource | readonly EntityDefinition[], name: string): EntityDefinition {
  if (!Array.isArray(entities) || entities.length === 0 || 'kind' in entities[0]) {
    return requireDefinition(entities as DefinitionSource, 'entity', name);
  }
  const found = (entities as readonly EntityDefinition[]).find((entity) => entity.name === name);
  if (found === undefined) throw new FeaturelogError('UNKNOWN_ENTITY', `entity "${name}" is not defined`);
  return found;
}

/** One feature a reference resolved to. */
export interface ResolvedFeature {
  view: FeatureViewDefinition;
  feature: FeatureDefinition;
  /** `view:feature`, the feature's full name. */
  reference: string;
}

/**
 * Resolves `view:feature` and `view:*` references against current definitions, in the order given
 * (`*` expands in the view's declared order); a feature named twice is returned once.
 * Throws INVALID_FEATURE_REFERENCE, UNKNOWN_FEATURE_VIEW or UNKNOWN_FEATURE naming the reference.
 */
export function resolveFeatureReferences(source: DefinitionSource, references: readonly string[]): ResolvedFeature[] {
  const out: ResolvedFeature[] = [];
  const seen = new Set<string>();
  for (const text of references) {
    const reference = parseFeatureReference(text);
    if (!reference) {
      throw new FeaturelogError('INVALID_FEATURE_REFERENCE', `"${text}" must be written view:feature or view:*`);
    }
    const view = requireDefinition(source, 'feature_view', reference.view);
    const features =
      reference.feature === '*' ? view.features : view.features.filter((f) => f.name === reference.feature);
    if (features.length === 0) {
      throw new FeaturelogError('UNKNOWN_FEATURE', `feature view "${view.name}" has no feature "${reference.feature}"`);
    }
    for (const feature of features) {
      const full = `${view.name}:${feature.name}`;
      if (seen.has(full)) continue;
      seen.add(full);
      out.push({ view, feature, reference: full });
    }
  }
  return out;
}

/** The features a feature service serves; throws UNKNOWN_FEATURE_SERVICE when it does not exist. */
export function resolveServiceFeatures(source: DefinitionSource, serviceName: string): ResolvedFeature[] {
  return resolveFeatureReferences(source, requireDefinition(source, 'feature_service', serviceName).features);
}
