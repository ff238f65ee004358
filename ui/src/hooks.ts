import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, request, type AppName, type RequestOptions } from './api';

export interface Loaded<T> {
  data?: T;
  error?: ApiError;
  loading: boolean;
  reload(): void;
}

/**
 * Reads `path` of `app`; with `pollMs`, again every so often while the page is shown (each read
 * waits for the previous one, so a slow app is never asked twice at once). `path` undefined: nothing.
 */
export function useApi<T>(
  app: AppName,
  path: string | undefined,
  { pollMs, text }: { pollMs?: number; text?: boolean } = {},
): Loaded<T> {
  // Keyed by what was read: a page that now reads another path never shows the previous one's data.
  const [state, setState] = useState<{ key?: string; data?: T; error?: ApiError; loading: boolean }>({
    loading: path !== undefined,
  });
  const key = `${app} ${path ?? ''}`;
  const [generation, setGeneration] = useState(0);
  const keyGeneration = useKeyGeneration();
  useEffect(() => {
    if (path === undefined) return undefined;
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    setState((previous) => (previous.key === key ? { ...previous, loading: true } : { key, loading: true }));
    const read = async () => {
      try {
        const data = await request<T>(app, path, { ...(text ? { text: true } : {}) });
        if (live) setState({ key, data, loading: false });
      } catch (error) {
        // A failed poll keeps what the last one read, beside the error.
        if (live)
          setState((previous) => ({
            key,
            data: previous.key === key ? previous.data : undefined,
            error: asApiError(error, app),
            loading: false,
          }));
      }
      if (live && pollMs !== undefined) timer = setTimeout(read, pollMs);
    };
    void read();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [app, path, pollMs, generation, keyGeneration]);
  const current = state.key === key ? state : { loading: path !== undefined };
  return {
    data: current.data,
    error: current.error,
    loading: current.loading,
    reload: () => setGeneration((n) => n + 1),
  };
}

export function asApiError(error: unknown, app: AppName): ApiError {
  return error instanceof ApiError ? error : new ApiError('request', app, String(error));
}

/** A request made by a button (cancel, redrive, lookup): its state while it runs and its outcome. */
export function useAction<T>(): {
  run(app: AppName, path: string, options: RequestOptions): Promise<T | undefined>;
  running: boolean;
  result?: T;
  error?: ApiError;
} {
  const [state, setState] = useState<{ running: boolean; result?: T; error?: ApiError }>({ running: false });
  const mounted = useRef(true);
  useEffect(
    () => () => {
      mounted.current = false;
    },
    [],
  );
  return {
    ...state,
    run: async (app, path, options) => {
      setState({ running: true });
      try {
        const result = await request<T>(app, path, options);
        if (mounted.current) setState({ running: false, result });
        return result;
      } catch (error) {
        if (mounted.current) setState({ running: false, error: asApiError(error, app) });
        return undefined;
      }
    },
  };
}

/** Bumped when the key changes, so every page reads again with it. */
let keyGenerationValue = 0;
const keyGenerationListeners = new Set<(n: number) => void>();
export function keyChanged(): void {
  keyGenerationValue++;
  for (const listener of keyGenerationListeners) listener(keyGenerationValue);
}
function useKeyGeneration(): number {
  const [value, setValue] = useState(keyGenerationValue);
  useEffect(() => {
    keyGenerationListeners.add(setValue);
    return () => keyGenerationListeners.delete(setValue);
  }, []);
  return value;
}

/** The `#/…` route: path segments (decoded) and query parameters. */
export interface Route {
  parts: string[];
  query: URLSearchParams;
}

export function currentRoute(): Route {
  const [path = '', query = ''] = location.hash.replace(/^#/, '').split('?');
  return { parts: path.split('/').filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(query) };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(currentRoute);
  useEffect(() => {
    const changed = () => setRoute(currentRoute());
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return route;
}

export function href(parts: ReadonlyArray<string | number>, query?: Record<string, string | undefined>): string {
  const search = new URLSearchParams(
    Object.entries(query ?? {}).filter((entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== ''),
  ).toString();
  return `#/${parts.map((part) => encodeURIComponent(String(part))).join('/')}${search ? `?${search}` : ''}`;
}
