import {
  FeaturelogError,
  findDefinition,
  PUSH_DESTINATIONS,
  type PushDestination,
  listElementType,
  type DefinitionSource,
  type FeatureViewDefinition,
  type RegistryState,
  type TaggedDefinition,
} from '@featurelog/domain';
import type { InputRow } from './row-input';

/** Kept here too for the producer's callers; the definitions live in @featurelog/domain (push-destination). */
export { PUSH_DESTINATIONS, PUSH_TO_HEADER, type PushDestination } from '@featurelog/domain';

/**
 * The body of `POST /push`, in Feast's shape: a view (or a push source: every view reading that
 * managed data source), and rows either as a list of objects or columnar (`df: {column: values[]}`,
 * as pandas' `to_dict(orient="list")` gives).
 */
export interface PushRequestBody {
  view?: string;
  feature_view?: string;
  push_source_name?: string;
  rows?: Array<Record<string, unknown>>;
  df?: Record<string, unknown[]>;
  to?: PushDestination;
}

export interface ParsedPush {
  views: string[];
  rows: InputRow[];
  to: PushDestination;
  /** How rows were given, so problems can point at `rows[3].x` or `df.x[3]`. */
  shape: 'rows' | 'df';
}

function badRequest(message: string): FeaturelogError {
  return new FeaturelogError('INVALID_PUSH_REQUEST', message);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Checks the shape of a push body and resolves which views it feeds. Throws INVALID_PUSH_REQUEST
 * (400) for a malformed body, UNKNOWN_FEATURE_VIEW / UNKNOWN_PUSH_SOURCE (404) for names that are not
 * defined. Row values are checked later, against each view.
 */
export function parsePushRequest(body: unknown, definitions: DefinitionSource, maxRows: number): ParsedPush {
  if (!isPlainObject(body)) throw badRequest('the body must be a JSON object');
  const known = new Set(['view', 'feature_view', 'push_source_name', 'rows', 'df', 'to', 'allow_registry_cache']);
  const unknown = Object.keys(body).filter((key) => !known.has(key));
  if (unknown.length > 0) {
    throw badRequest(`unknown field(s) ${unknown.join(', ')}; expected view or push_source_name, rows or df, and to`);
  }
  const { view, feature_view, push_source_name, rows, df, to = 'online_and_offline' } = body as PushRequestBody;
  const viewName = view ?? feature_view;
  if ((viewName === undefined) === (push_source_name === undefined)) {
    throw badRequest('name exactly one of view and push_source_name');
  }
  if (!(PUSH_DESTINATIONS as readonly string[]).includes(to)) {
    throw badRequest(`to must be one of ${PUSH_DESTINATIONS.join(', ')}, got ${JSON.stringify(to)}`);
  }
  if ((rows === undefined) === (df === undefined)) throw badRequest('give the rows either as rows (a list) or as df');

  let parsedRows: InputRow[];
  if (rows !== undefined) {
    if (!Array.isArray(rows)) throw badRequest('rows must be a list of objects');
    rows.forEach((row, i) => {
      if (!isPlainObject(row)) throw badRequest(`rows[${i}] must be an object`);
    });
    parsedRows = rows;
  } else {
    parsedRows = rowsFromColumns(df);
  }
  if (parsedRows.length > maxRows) {
    throw new FeaturelogError(
      'PAYLOAD_TOO_LARGE',
      `${parsedRows.length} rows in one push; at most ${maxRows} (split the push, or use featurelog ingest for files)`,
    );
  }

  let views: string[];
  if (viewName !== undefined) {
    if (typeof viewName !== 'string') throw badRequest('view must be a string');
    if (findDefinition(definitions, 'feature_view', viewName) === undefined) {
      throw new FeaturelogError('UNKNOWN_FEATURE_VIEW', `feature view "${viewName}" is not defined`);
    }
    views = [viewName];
  } else {
    if (typeof push_source_name !== 'string') throw badRequest('push_source_name must be a string');
    views = viewsOfPushSource(definitions, push_source_name);
  }
  return { views, rows: parsedRows, to, shape: rows !== undefined ? 'rows' : 'df' };
}

function rowsFromColumns(df: unknown): InputRow[] {
  if (!isPlainObject(df)) throw badRequest('df must be an object of columns: {"column": [values...]}');
  const columns = Object.entries(df);
  let length: number | undefined;
  for (const [name, values] of columns) {
    if (!Array.isArray(values)) throw badRequest(`df.${name} must be a list of values`);
    if (length !== undefined && values.length !== length) {
      throw badRequest(
        `df columns differ in length: df.${name} has ${values.length} values, ${columns[0]![0]} has ${length}`,
      );
    }
    length ??= values.length;
  }
  return Array.from({ length: length ?? 0 }, (_, i) => {
    const row: Record<string, unknown> = {};
    for (const [name, values] of columns) row[name] = (values as unknown[])[i];
    return row;
  });
}

/**
 * The views fed by a push source: a managed data source of that name feeds every view reading it. A
 * name that is no data source but a view is taken as that view (Feast names push sources after views).
 */
function viewsOfPushSource(definitions: DefinitionSource, name: string): string[] {
  const source = findDefinition(definitions, 'data_source', name);
  if (source === undefined) {
    if (findDefinition(definitions, 'feature_view', name) !== undefined) return [name];
    throw new FeaturelogError(
      'UNKNOWN_PUSH_SOURCE',
      `push source "${name}" is neither a data source nor a feature view`,
    );
  }
  if (source.kind !== 'managed') {
    throw new FeaturelogError(
      'PUSH_SOURCE_NOT_PUSHABLE',
      `data source "${name}" is a ${source.kind} source; only a managed source (the view's own topic) takes pushes`,
    );
  }
  const views = allViews(definitions).filter((view) => view.source === name);
  if (views.length === 0)
    throw new FeaturelogError('UNKNOWN_PUSH_SOURCE', `no feature view reads data source "${name}"`);
  return views.map((view) => view.name);
}

function allViews(definitions: DefinitionSource): FeatureViewDefinition[] {
  if (Array.isArray(definitions)) {
    return (definitions as readonly TaggedDefinition[])
      .filter((t) => t.kind === 'feature_view')
      .map((t) => t.definition as FeatureViewDefinition);
  }
  return Object.values((definitions as RegistryState).objects)
    .filter((object) => object.kind === 'feature_view' && !object.deleted && object.definition !== null)
    .map((object) => object.definition as FeatureViewDefinition);
}

/**
 * JSON has no bytes: a string for a bytes field (or in a list of bytes) is base64. Other conversions
 * (ISO timestamps) are the producer's own.
 */
export function bytesFromBase64(view: FeatureViewDefinition, rows: readonly InputRow[]): InputRow[] {
  const bytesFields = view.features.filter((f) => (listElementType(f.type) ?? f.type) === 'bytes');
  if (bytesFields.length === 0) return rows as InputRow[];
  const decode = (value: unknown) =>
    typeof value === 'string' ? Uint8Array.from(Buffer.from(value, 'base64')) : value;
  return rows.map((row) => {
    const out: Record<string, unknown> = { ...row };
    for (const { name, type } of bytesFields) {
      const value = out[name];
      out[name] = listElementType(type) !== undefined && Array.isArray(value) ? value.map(decode) : decode(value);
    }
    return out;
  });
}
