import { Controller, Get, Inject, Param, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { RequireScope } from '@featurelog/auth';
import { FeaturelogError } from '@featurelog/domain';
import type { BundleFile } from './ui-bundle';

export const UI_BUNDLE = Symbol('featurelog:UiBundle');
export const UI_SETTINGS = Symbol('featurelog:UiSettings');

/** What the page needs to find the APIs it reads: each app's base URL (absent: not part of this deployment). */
export interface UiSettings {
  project: string;
  apps: Partial<Record<'registry' | 'materializer' | 'compactor' | 'jobs' | 'serving', string>>;
}

/**
 * The page needs no data of its own to be served: its bundle and the apps' URLs are public, and every
 * read it makes goes to the other apps with the user's key. The browser may talk to the apps named in
 * the settings and nowhere else (connect-src).
 */
function securityPolicy(settings: UiSettings): string {
  const origins = Object.values(settings.apps).map((url) => new URL(url).origin);
  return [
    "default-src 'self'",
    `connect-src 'self' ${[...new Set(origins)].join(' ')}`,
    "img-src 'self' data:",
    // Preact and uPlot set element styles from script.
    "style-src 'self' 'unsafe-inline'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
}

@Controller()
@RequireScope('public')
export class UiController {
  constructor(
    @Inject(UI_BUNDLE) private readonly bundle: ReadonlyMap<string, BundleFile>,
    @Inject(UI_SETTINGS) private readonly settings: () => UiSettings,
  ) {}

  /** The single page; every view is a `#/…` route of it, so this is the only HTML the app serves. */
  @Get()
  index(@Res() reply: FastifyReply): FastifyReply {
    return this.send(reply.header('content-security-policy', securityPolicy(this.settings())), 'index.html');
  }

  @Get('config.json')
  config(@Res() reply: FastifyReply): FastifyReply {
    return reply.header('cache-control', 'no-store').send(this.settings());
  }

  @Get('assets/:file')
  asset(@Param('file') file: string, @Res() reply: FastifyReply): FastifyReply {
    return this.send(reply, file);
  }

  private send(reply: FastifyReply, name: string): FastifyReply {
    const file = this.bundle.get(name);
    // index.html is served at / only, so the page has one address.
    if (file === undefined || (name === 'index.html') !== (reply.request.url.split('?')[0] === '/')) {
      throw new FeaturelogError('ASSET_NOT_FOUND', `no file ${name} in the web UI`);
    }
    return reply
      .header('content-type', file.contentType)
      .header('x-content-type-options', 'nosniff')
      .header('cache-control', 'no-cache')
      .send(file.body);
  }
}
