import { isAbsolute, resolve } from 'node:path';
import { FeaturelogError } from '@featurelog/domain';
import { assertParquetOutput, type ExportRequest } from './export-plan';

const FIELDS = ['entities', 'entitiesFormat', 'features', 'service', 'output', 'fullFeatureNames', 'asServed'];

function invalid(message: string): FeaturelogError {
  return new FeaturelogError('INVALID_EXPORT_REQUEST', message);
}

function path(body: Record<string, unknown>, field: 'entities' | 'output', what: string, baseDir: string): string {
  const value = body[field];
  if (typeof value !== 'string' || value.trim() === '') {
    throw invalid(`${field} must be ${what}, a non-empty string`);
  }
  return isAbsolute(value.trim()) ? value.trim() : resolve(baseDir, value.trim());
}

function flag(body: Record<string, unknown>, field: 'fullFeatureNames' | 'asServed'): boolean | undefined {
  const value = body[field];
  if (value !== undefined && typeof value !== 'boolean') throw invalid(`${field} must be true or false`);
  return value;
}

/**
 * The body of `POST /jobs/exports` checked and made an ExportRequest: the request `featurelog export`
 * submits, its paths on the jobs server (a relative one is taken from `baseDir`, the jobs app's working
 * directory). Throws INVALID_EXPORT_REQUEST (a 400) naming the field; what only the job can check (the
 * entity file's columns, the features' views) fails the job with its own error, as for the CLI.
 */
export function parseExportRequest(body: unknown, baseDir: string): ExportRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalid('the body must be a JSON object: { entities, service or features, output }');
  }
  const fields = body as Record<string, unknown>;
  const unknown = Object.keys(fields).filter((name) => !FIELDS.includes(name));
  if (unknown.length > 0) throw invalid(`unknown field(s) ${unknown.join(', ')} (known: ${FIELDS.join(', ')})`);
  const entities = path(fields, 'entities', 'the path of the entity file (Parquet or CSV) on the jobs server', baseDir);
  const output = path(fields, 'output', 'the path of the Parquet file to write on the jobs server', baseDir);
  try {
    assertParquetOutput(output);
  } catch (error) {
    throw invalid(`output: ${(error as Error).message}`);
  }
  const { entitiesFormat, features, service } = fields;
  if (
    entitiesFormat !== undefined &&
    entitiesFormat !== 'parquet' &&
    entitiesFormat !== 'csv' &&
    entitiesFormat !== 'arrow'
  ) {
    throw invalid('entitiesFormat must be "parquet", "csv" or "arrow" (or left out: taken from the file name)');
  }
  if (features !== undefined) {
    if (!Array.isArray(features) || features.length === 0) {
      throw invalid('features must be a non-empty array of "view:feature" or "view:*"');
    }
    const bad = features.find((name) => typeof name !== 'string' || !/^[^:\s]+:[^:\s]+$/.test(name));
    if (bad !== undefined) throw invalid(`features: ${JSON.stringify(bad)} is not "view:feature" or "view:*"`);
  }
  if (service !== undefined && (typeof service !== 'string' || service.trim() === '')) {
    throw invalid('service must be the name of a feature service, a non-empty string');
  }
  if ((features === undefined) === (service === undefined)) {
    throw invalid('give exactly one of features and service');
  }
  const fullFeatureNames = flag(fields, 'fullFeatureNames');
  const asServed = flag(fields, 'asServed');
  return {
    entities,
    ...(entitiesFormat !== undefined ? { entitiesFormat } : {}),
    ...(features !== undefined ? { features: features as string[] } : {}),
    ...(service !== undefined ? { service: (service as string).trim() } : {}),
    output,
    ...(fullFeatureNames !== undefined ? { fullFeatureNames } : {}),
    ...(asServed !== undefined ? { asServed } : {}),
  };
}
