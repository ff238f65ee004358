// First: the libs' NestJS decorators record their metadata through it as their classes are defined.
import 'reflect-metadata';
import type { ProjectConfig } from '@featurelog/config';
import { FeaturelogError, listDefinitions, type EntityDefinition, type JoinKey } from '@featurelog/domain';
import { JsonHttpClient, liveDevServer, type DevServerRecord } from '@featurelog/runtime';
import { CatalogSource, OnlineFeatureRetriever } from '@featurelog/serving';
import { consoleOutput, table } from '../output';
import { loadConfig, withRuntime } from '../repo';
import { clientApiKey, type ApiKeyOptions } from '../api-key';

export interface GetOnlineOptions extends ApiKeyOptions {
  repo: string;
  json: boolean;
  features?: string;
  service?: string;
  entity: string[];
  fullFeatureNames: boolean;
}

/** The response of POST /get-online-features (Feast's shape). */
export interface OnlineFeaturesResponse {
  metadata: { feature_names: string[] };
  results: Array<{ values: unknown[]; statuses: string[]; event_timestamps: string[] }>;
}

export async function getOnline(options: GetOnlineOptions): Promise<void> {
  const out = consoleOutput(options.json);
  const config = await loadConfig(options);
  const selection = parseSelection(options);
  if (options.entity.length === 0) {
    throw new FeaturelogError('INVALID_OPTION', 'give at least one --entity, e.g. --entity driver_id=1001');
  }
  const dev = await liveDevServer(config.repoDir);
  const response = dev
    ? await viaDevServer(dev, selection, options)
    : await fromOnlineStore(config, selection, options);
  out.data(response);
  out.print(renderOnlineFeatures(response));
  if (dev) out.print(`(served by featurelog dev at ${dev.urls.serving})`);
}

type Selection = { features: string[] } | { feature_service: string };

function parseSelection(options: GetOnlineOptions): Selection {
  if ((options.features === undefined) === (options.service === undefined)) {
    throw new FeaturelogError('INVALID_OPTION', 'give exactly one of --features view:feature,… and --service <name>');
  }
  if (options.service !== undefined) return { feature_service: options.service };
  const features = options
    .features!.split(',')
    .map((ref) => ref.trim())
    .filter(Boolean);
  if (features.length === 0) throw new FeaturelogError('INVALID_OPTION', '--features names no feature');
  return { features };
}

/**
 * `--entity driver_id=1001 --entity driver_id=1002` → `{ driver_id: [1001, 1002] }`, each value
 * read by its join key's type (a number for numeric keys, text otherwise).
 */
export function entityColumns(
  rows: readonly string[],
  joinKeys: ReadonlyMap<string, JoinKey>,
): Record<string, unknown[]> {
  const columns: Record<string, unknown[]> = {};
  rows.forEach((row, i) => {
    const pairs = row
      .split(',')
      .map((pair) => pair.trim())
      .filter(Boolean);
    for (const pair of pairs) {
      const at = pair.indexOf('=');
      if (at <= 0) throw new FeaturelogError('INVALID_OPTION', `--entity ${row}: expected key=value, got "${pair}"`);
      const name = pair.slice(0, at);
      const text = pair.slice(at + 1);
      const key = joinKeys.get(name);
      if (key === undefined) {
        throw new FeaturelogError(
          'UNKNOWN_JOIN_KEY',
          `--entity ${row}: "${name}" is no join key of any entity (known: ${[...joinKeys.keys()].join(', ') || 'none'})`,
        );
      }
      (columns[name] ??= new Array<unknown>(rows.length).fill(null))[i] = joinKeyValue(key, text, row);
    }
  });
  return columns;
}

function joinKeyValue(key: JoinKey, text: string, row: string): unknown {
  if (key.type === 'int32' || key.type === 'int64' || key.type === 'float32' || key.type === 'float64') {
    const value = Number(text);
    if (text === '' || !Number.isFinite(value)) {
      throw new FeaturelogError('INVALID_OPTION', `--entity ${row}: ${key.name} is ${key.type}, got "${text}"`);
    }
    return value;
  }
  if (key.type === 'bool') return text === 'true';
  return text;
}

function joinKeysOf(entities: readonly EntityDefinition[]): Map<string, JoinKey> {
  return new Map(entities.flatMap((entity) => entity.joinKeys.map((key) => [key.name, key] as const)));
}

async function viaDevServer(
  dev: DevServerRecord,
  selection: Selection,
  options: GetOnlineOptions,
): Promise<OnlineFeaturesResponse> {
  const http = new JsonHttpClient({ apiKey: await clientApiKey(options) });
  try {
    const entities = await call<{ items: EntityDefinition[] }>(http, dev, `${dev.urls.registry}/entities`);
    const body = {
      ...selection,
      entities: entityColumns(options.entity, joinKeysOf(entities.items)),
      full_feature_names: options.fullFeatureNames,
    };
    return await call<OnlineFeaturesResponse>(http, dev, `${dev.urls.serving}/get-online-features`, body);
  } finally {
    http.close();
  }
}

async function call<T>(http: JsonHttpClient, dev: DevServerRecord, url: string, body?: unknown): Promise<T> {
  let response: { status: number; body: T & { code?: string; message?: string; retriable?: boolean } };
  try {
    response = await http.request(body === undefined ? 'GET' : 'POST', url, body);
  } catch (cause) {
    throw new FeaturelogError('DEV_SERVER_UNAVAILABLE', `featurelog dev (pid ${dev.pid}) does not answer at ${url}`, {
      retriable: true,
      cause,
    });
  }
  const payload = response.body;
  if (response.status >= 400) {
    // A refused key: say which scope and how a featurelog command is given a key (never the key).
    const hint =
      response.status === 401 || response.status === 403
        ? ` (${url} needs a key with the read scope: FEATURELOG_API_KEY, FEATURELOG_API_KEY_FILE or --api-key-file)`
        : '';
    throw new FeaturelogError(
      payload.code ?? 'HTTP_ERROR',
      `${payload.message ?? `${url} answered ${response.status}`}${hint}`,
      { retriable: payload.retriable ?? false },
    );
  }
  return payload;
}

async function fromOnlineStore(
  config: ProjectConfig,
  selection: Selection,
  options: GetOnlineOptions,
): Promise<OnlineFeaturesResponse> {
  return withRuntime(config, options, async (runtime) => {
    const { follower } = runtime.registry();
    await follower.catchUp();
    follower.assertComplete();
    const retriever = new OnlineFeatureRetriever({
      project: runtime.project,
      store: await runtime.onlineStore(),
      catalogs: new CatalogSource(runtime.project, follower),
    });
    const entities = listDefinitions(follower.state, 'entity').map((tagged) => tagged.definition as EntityDefinition);
    const result = await retriever.retrieve({
      ...selection,
      entities: entityColumns(options.entity, joinKeysOf(entities)),
      full_feature_names: options.fullFeatureNames,
    });
    return JSON.parse(result.body.toString()) as OnlineFeaturesResponse;
  });
}

/**
 * One line per entity row, one column per feature; a value that is not PRESENT shows its status
 * instead (NOT_FOUND) or beside it (OUTSIDE_MAX_AGE: older than the view's TTL).
 */
export function renderOnlineFeatures(response: OnlineFeaturesResponse): string {
  const names = response.metadata.feature_names;
  const rows = response.results[0]?.values.length ?? 0;
  const lines: Array<Array<string | number>> = [];
  for (let row = 0; row < rows; row++) {
    let latest = '';
    const cells = response.results.map((column) => {
      const status = column.statuses[row];
      const value = column.values[row];
      const time = column.event_timestamps[row] ?? '';
      if (status !== 'NOT_FOUND' && !time.startsWith('1970-') && time > latest) latest = time;
      if (status === 'NOT_FOUND') return '∅ NOT_FOUND';
      const text =
        value === null || value === undefined
          ? 'null'
          : typeof value === 'object'
            ? JSON.stringify(value)
            : String(value);
      return status === 'PRESENT' ? text : `${text} (${status})`;
    });
    lines.push([...cells, latest]);
  }
  return table([...names, 'event time'], lines);
}
