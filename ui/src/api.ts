/**
 * The page's only door to featurelog: the public HTTP APIs of the apps named in /config.json, called
 * with the user's API key (`Authorization: Bearer`, kept in sessionStorage for this tab only). Every
 * failure is one of three kinds the pages show differently: the key (401/403: ask for one), the app
 * (unreachable, not deployed: show it down, keep the rest), or the request (the app's own message).
 */
export type AppName = 'registry' | 'materializer' | 'compactor' | 'jobs' | 'serving';
export const APP_NAMES: readonly AppName[] = ['registry', 'materializer', 'compactor', 'jobs', 'serving'];

export interface UiSettings {
  project: string;
  apps: Partial<Record<AppName, string>>;
}

export type ApiErrorKind = 'auth' | 'down' | 'request';

export class ApiError extends Error {
  constructor(
    readonly kind: ApiErrorKind,
    readonly app: AppName,
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

const KEY_STORAGE = 'featurelog.apiKey';
/** A request that takes longer is reported as the app being down, not left spinning. */
const REQUEST_TIMEOUT_MS = 10_000;

let settings: UiSettings = { project: '', apps: {} };
const authListeners = new Set<(error: ApiError) => void>();

export function configure(loaded: UiSettings): void {
  settings = {
    ...loaded,
    // An app bound to every interface is reached at the host the page came from.
    apps: Object.fromEntries(
      Object.entries(loaded.apps).map(([app, url]) => [
        app,
        url.replace(/\/\/(0\.0\.0\.0|\[::\])/, `//${location.hostname}`),
      ]),
    ),
  };
}

export function appUrl(app: AppName): string | undefined {
  return settings.apps[app];
}

export function project(): string {
  return settings.project;
}

export function apiKey(): string | undefined {
  return sessionStorage.getItem(KEY_STORAGE) ?? undefined;
}

export function setApiKey(key: string | undefined): void {
  if (key === undefined || key === '') sessionStorage.removeItem(KEY_STORAGE);
  else sessionStorage.setItem(KEY_STORAGE, key);
}

/** Called on every 401/403, so the shell can ask for a key whatever page made the request. */
export function onAuthProblem(listener: (error: ApiError) => void): () => void {
  authListeners.add(listener);
  return () => authListeners.delete(listener);
}

export interface RequestOptions {
  method?: 'GET' | 'POST';
  body?: unknown;
  /** The answer as text (Prometheus metrics), not JSON. */
  text?: boolean;
}

export async function request<T>(app: AppName, path: string, options: RequestOptions = {}): Promise<T> {
  const base = appUrl(app);
  if (base === undefined) throw new ApiError('down', app, `${app} is not part of this deployment`);
  const headers: Record<string, string> = {};
  const key = apiKey();
  if (key !== undefined) headers.authorization = `Bearer ${key}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(`${base}${path}`, {
      method: options.method ?? 'GET',
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (cause) {
    throw new ApiError('down', app, `${app} does not answer at ${base} (${String(cause)})`);
  }
  if (response.status === 401 || response.status === 403) {
    const body = (await response.json().catch(() => ({}))) as { message?: string };
    const error = new ApiError('auth', app, body.message ?? `${app} refused the key`, response.status);
    for (const listener of authListeners) listener(error);
    throw error;
  }
  if (!response.ok) {
    const body = (await response.json().catch(() => ({}))) as { message?: string; code?: string };
    const what = body.code ? `${body.code}: ${body.message ?? ''}` : (body.message ?? response.statusText);
    throw new ApiError(response.status >= 500 ? 'down' : 'request', app, `${app}: ${what}`, response.status);
  }
  return (options.text ? await response.text() : await response.json()) as T;
}
