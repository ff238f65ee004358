import 'reflect-metadata';

import { NestFactory } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { ApiKeyVerifier, guardedFastifyAdapter, type ApiKeysConfig } from '@featurelog/auth';
import { appListenAddress, DEFAULT_UI_PORT, type AppName, type ProjectConfig } from '@featurelog/config';
import { runAppMain } from '@featurelog/runtime';
import { loadUiBundle } from './ui-bundle';
import type { UiSettings } from './ui.controller';
import { UiAppModule } from './ui.module';

export { DEFAULT_UI_PORT };
/** The apps whose public APIs the page reads, with their default ports (see each app's main). */
const API_APPS = { registry: 6570, materializer: 6571, compactor: 6572, jobs: 6573, serving: 6574 } as const;

export interface UiAppOptions {
  config: ProjectConfig;
  port?: number;
  host?: string;
  /**
   * The apps' URLs, asked at each page load; default: where featurelog.yaml says each listens.
   * `featurelog dev` passes the ones it started (their ports may be chosen at start).
   */
  apps?: () => UiSettings['apps'];
  /** Overrides `serving.apiKeys` of featurelog.yaml: they guard /metrics and /health's details, as in every app. */
  auth?: ApiKeysConfig;
  logger?: false | Array<'error' | 'warn' | 'log'>;
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
export async function startUi(options: UiAppOptions): Promise<NestFastifyApplication> {
  const { config } = options;
  // Before anything opens: a key that cannot be checked stops the app here.
  const auth = new ApiKeyVerifier(options.auth ?? { apiKeys: config.serving?.apiKeys ?? [] });
  const bundle = loadUiBundle();
  const apps = options.apps ?? (() => configuredAppUrls(config));
  const app = await NestFactory.create<NestFastifyApplication>(
    UiAppModule.forBundle(bundle, () => ({ project: config.project, apps: apps() })),
    // The page, its assets and the apps' URLs are public (UiController); /metrics needs `read` as everywhere.
    guardedFastifyAdapter(auth),
    { logger: options.logger ?? ['error', 'warn', 'log'] },
  );
  const listen = appListenAddress(config.apps, 'ui', DEFAULT_UI_PORT, {});
  await app.listen(options.port ?? listen.port, options.host ?? listen.host);
  return app;
}

if (require.main === module) {
  runAppMain(
    'ui',
    (config) => startUi({ config, ...appListenAddress(config.apps, 'ui', DEFAULT_UI_PORT) }),
    async (app) => `listening on ${await app.getUrl()}`,
  );
}
