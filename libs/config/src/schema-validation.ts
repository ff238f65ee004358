import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020';
import { schemaValidator } from './schema-validators';

export { definitionSchema, projectSchema } from './schema-validators';

export interface SchemaViolation {
  code: 'UNKNOWN_FIELD' | 'MISSING_FIELD' | 'WRONG_TYPE' | 'INVALID_VALUE';
  /** Where in the document: keys and list indices. */
  path: Array<string | number>;
  message: string;
}

/** Checks one definition document against schemas/definitions.schema.json. */
export function checkDefinitionDocument(value: unknown): SchemaViolation[] {
  return violations(schemaValidator('definition'), value);
}

/** Checks featurelog.yaml (after interpolation) against schemas/featurelog.schema.json. */
export function checkProjectDocument(value: unknown): SchemaViolation[] {
  return violations(schemaValidator('project'), value);
}

function violations(validate: ValidateFunction, value: unknown): SchemaViolation[] {
  if (validate(value)) return [];
  const errors = validate.errors ?? [];
  // An anyOf failure stands for its branches' failures at the same place: report it once, saying what fits.
  const anyOfPaths = new Set(errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath));
  const out: SchemaViolation[] = [];
  const seen = new Set<string>();
  for (const error of errors) {
    if (error.keyword === 'if') continue;
    if (error.keyword !== 'anyOf' && anyOfPaths.has(error.instancePath) && error.schemaPath.includes('/anyOf/'))
      continue;
    const violation = toViolation(error);
    const key = `${violation.path.join('/')}|${violation.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(violation);
  }
  return out;
}

function toViolation(error: ErrorObject): SchemaViolation {
  const path = pointerToPath(error.instancePath);
  // The field is reported beside the message, so messages name it only for the document itself.
  const at = path.length > 0 ? '' : 'the document ';
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'additionalProperties': {
      const field = String(params.additionalProperty);
      const allowed = Object.keys((error.parentSchema?.properties as object | undefined) ?? {});
      return {
        code: 'UNKNOWN_FIELD',
        path: [...path, field],
        message: `unknown field "${field}"${allowed.length ? `; allowed here: ${allowed.join(', ')}` : ''}`,
      };
    }
    case 'required':
      return {
        code: 'MISSING_FIELD',
        path: [...path, String(params.missingProperty)],
        message: `is required${path.length > 0 ? ` in ${path.join('.')}` : ''}`,
      };
    case 'type':
      return { code: 'WRONG_TYPE', path, message: `${at}must be ${article(String(params.type))}${got(error.data)}` };
    case 'enum':
      return {
        code: 'INVALID_VALUE',
        path,
        message: `${at}must be one of ${(params.allowedValues as unknown[]).join(', ')}${got(error.data)}`,
      };
    case 'const':
      return { code: 'INVALID_VALUE', path, message: `${at}must be ${String(params.allowedValue)}${got(error.data)}` };
    case 'pattern': {
      // A schema's description says the expected form in words; the bare pattern is the fallback.
      const description = (error.parentSchema as { description?: unknown } | undefined)?.description;
      const expected =
        typeof description === 'string'
          ? lowerFirst(description.replace(/\.$/, ''))
          : `something matching ${String(params.pattern)}`;
      return { code: 'INVALID_VALUE', path, message: `${at}must be ${expected}${got(error.data)}` };
    }
    case 'anyOf': {
      const branches = ((error.parentSchema?.anyOf as Array<Record<string, unknown>> | undefined) ?? []).map(summarize);
      return { code: 'INVALID_VALUE', path, message: `${at}must be ${branches.join(', or ')}${got(error.data)}` };
    }
    case 'minItems':
      return { code: 'INVALID_VALUE', path, message: `${at}must have at least ${String(params.limit)} item(s)` };
    case 'minLength':
      return {
        code: 'INVALID_VALUE',
        path,
        message: `${at}must be at least ${String(params.limit)} character(s) long`,
      };
    default:
      return { code: 'INVALID_VALUE', path, message: `${at}${error.message ?? 'is invalid'}${got(error.data)}` };
  }
}

function pointerToPath(pointer: string): Array<string | number> {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((part) => (/^(0|[1-9][0-9]*)$/.test(part) ? Number(part) : part));
}

function summarize(schema: Record<string, unknown>): string {
  if (typeof schema.description === 'string') return schema.description;
  const parts = [article(String(schema.type ?? 'value'))];
  if (schema.minimum !== undefined) parts.push(`>= ${String(schema.minimum)}`);
  if (schema.pattern !== undefined) parts.push(`matching ${String(schema.pattern)}`);
  return parts.join(' ');
}

function lowerFirst(text: string): string {
  return /^[A-Z](?![A-Z])/.test(text) ? text[0]!.toLowerCase() + text.slice(1) : text;
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function got(data: unknown): string {
  if (data === undefined) return '';
  if (data !== null && typeof data === 'object') return Array.isArray(data) ? ', got a list' : ', got a mapping';
  return `, got ${JSON.stringify(data)}`;
}
