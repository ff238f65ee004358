import 'reflect-metadata';
import { appListenAddress, DEFAULT_UI_PORT, type AppName, type ProjectConfig } from '@featurelog/config';
import { featurelogApp, type AppSettings } from '@featurelog/runtime';
import { loadUiBundle } from './ui-bundle';
import type { UiSettings } from './ui.controller';
import { UiAppModule } from './ui.module';

export { DEFAULT_UI_PORT };

/** The apps whose public APIs the page reads, with their default ports (see each app's entry). */
const API_APPS = { registry: 6570, materializer: 6571, compactor: 6572, jobs: 6573, serving: 6574 } as const;

export interface UiAppSettings extends AppSettings {
  /**
   * The apps' URLs, asked at each page load; default: where featurelog.yaml says each listens.
   * `featurelog dev` passes the ones it started (their ports may be chosen at start).
   */
  apps?: () => UiSettings['apps'];
}

/** Where each app of featurelog.yaml listens, as a URL a browser on this machine can call. */
export function configuredAppUrls(config: ProjectConfig): UiSettings['apps'] {
  return Object.fromEntries(
    Object.entries(API_APPS).map(([app, port]) => {
      const address = appListenAddress(config.apps, app as AppName, port);
      return [app, `http://${browserHost(address.host)}:${address.port}`];
    }),
  );
}

/** The origins a browser gives the UI's page at this address (what the apps must allow, see browserOrigins). */
export function uiOrigins(url: string): string[] {
  const { protocol, hostname, port } = new URL(url);
  const local = ['127.0.0.1', 'localhost', '[::1]'];
  return local.includes(hostname) ? local.map((host) => `${protocol}//${host}:${port}`) : [new URL(url).origin];
}

function browserHost(host: string): string {
  return host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
}

/**
 * The web UI app: serves the single-page app built into ui/build (see the README's "The web UI") and
 * `/config.json`, the URLs of the apps whose APIs the page calls with the user's key, plus /health
 * and /metrics. It holds no data and no key of its own: the page is public, what it shows is not.
 */
export const uiApp = featurelogApp<UiAppSettings>({
  name: 'ui',
  defaultPort: DEFAULT_UI_PORT,
  async start({ config, settings, nest }) {
    const bundle = loadUiBundle();
    const apps = settings.apps ?? (() => configuredAppUrls(config));
    // The page, its assets and the apps' URLs are public (UiController); /metrics needs `read` as everywhere.
    return { app: await nest(UiAppModule.forBundle(bundle, () => ({ project: config.project, apps: apps() }))) };
  },
});
