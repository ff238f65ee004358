import { FeaturelogError } from '@featurelog/domain';
import type { FeatureSelection } from './serving-catalog';

/** A get-online-features request after its shape was checked (names are checked against the registry later). */
export interface OnlineFeaturesRequest {
  selection: FeatureSelection;
  /** Join key → one value per entity row; every list has `rowCount` values. */
  entities: Record<string, unknown[]>;
  /** Join keys in the order the request gave them: the response's first columns. */
  joinKeyOrder: string[];
  rowCount: number;
  fullFeatureNames: boolean;
}

/** Default most entity rows in one request (and one subscription). */
export const DEFAULT_MAX_ENTITY_ROWS = 1_000;

const invalid = (message: string) => new FeaturelogError('INVALID_REQUEST', message);

/**
 * Checks the shape of a request body (Feast's): exactly one of `features` (a non-empty list of
 * `view:feature` strings) or `feature_service` (a name); `entities`, an object of equally long
 * lists; optional boolean `full_feature_names`. Throws INVALID_REQUEST naming the field, or
 * PAYLOAD_TOO_LARGE naming the limit.
 */
export function parseOnlineFeaturesRequest(
  body: unknown,
  maxEntityRows = DEFAULT_MAX_ENTITY_ROWS,
): OnlineFeaturesRequest {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw invalid('the request body must be a JSON object with "entities" and "features" or "feature_service"');
  }
  const {
    features,
    feature_service: featureService,
    entities,
    full_feature_names: fullFeatureNames,
  } = body as Record<string, unknown>;
  for (const field of Object.keys(body)) {
    if (!KNOWN_FIELDS.has(field)) {
      throw invalid(`unknown field "${field}"; expected ${[...KNOWN_FIELDS].join(', ')}`);
    }
  }
  const selection = parseSelection(features, featureService);
  if (fullFeatureNames !== undefined && typeof fullFeatureNames !== 'boolean') {
    throw invalid(`"full_feature_names" must be true or false, got ${describe(fullFeatureNames)}`);
  }
  const { rows, order, rowCount } = parseEntities(entities, maxEntityRows);
  return { selection, entities: rows, joinKeyOrder: order, rowCount, fullFeatureNames: fullFeatureNames === true };
}

const KNOWN_FIELDS = new Set(['features', 'feature_service', 'entities', 'full_feature_names']);

export function parseSelection(features: unknown, featureService: unknown): FeatureSelection {
  if (features !== undefined && featureService !== undefined) {
    throw invalid('give either "features" or "feature_service", not both');
  }
  if (featureService !== undefined) {
    if (typeof featureService !== 'string' || featureService === '') {
      throw invalid(`"feature_service" must be a non-empty string, got ${describe(featureService)}`);
    }
    return { featureService };
  }
  if (features === undefined) throw invalid('"features" (a list of "view:feature") or "feature_service" is required');
  if (!Array.isArray(features) || features.length === 0) {
    throw invalid(`"features" must be a non-empty list of "view:feature" strings, got ${describe(features)}`);
  }
  features.forEach((reference, i) => {
    if (typeof reference !== 'string')
      throw invalid(`"features"[${i}] must be a "view:feature" string, got ${describe(reference)}`);
  });
  return { features: features as string[] };
}

export function parseEntities(
  entities: unknown,
  maxEntityRows: number,
): { rows: Record<string, unknown[]>; order: string[]; rowCount: number } {
  if (entities === null || typeof entities !== 'object' || Array.isArray(entities)) {
    throw invalid(`"entities" must be an object of join key → list of values, got ${describe(entities)}`);
  }
  const rows = entities as Record<string, unknown>;
  const order = Object.keys(rows);
  if (order.length === 0) throw invalid('"entities" must name at least one join key');
  let rowCount = -1;
  let first = '';
  for (const key of order) {
    const values = rows[key];
    if (!Array.isArray(values)) throw invalid(`"entities"."${key}" must be a list of values, got ${describe(values)}`);
    if (rowCount < 0) {
      rowCount = values.length;
      first = key;
      if (rowCount > maxEntityRows) {
        throw new FeaturelogError(
          'PAYLOAD_TOO_LARGE',
          `"entities" has ${rowCount} rows; the limit is maxEntityRows = ${maxEntityRows} per request`,
        );
      }
    } else if (values.length !== rowCount) {
      throw invalid(
        `"entities" lists must all have the same length: "${first}" has ${rowCount} values, "${key}" has ${values.length}`,
      );
    }
  }
  return { rows: rows as Record<string, unknown[]>, order, rowCount };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `a list of ${value.length}`;
  if (typeof value === 'string')
    return `string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}
