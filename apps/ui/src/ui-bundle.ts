import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { FeaturelogError } from '@featurelog/domain';

/**
 * Where `npm run build` leaves the web UI's bundle (tools/build/build.ts, esbuild over ui/): `ui/build`
 * at the repository root, copied to `dist/ui/build`, so the same relative path finds it from the
 * sources (apps/ui/src) and from the compiled app (dist/apps/ui/src).
 */
export const UI_BUNDLE_DIR = resolve(__dirname, '..', '..', '..', 'ui', 'build');

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.map': 'application/json',
};

export interface BundleFile {
  contentType: string;
  body: Buffer;
}

/**
 * The bundle's files, read once at start: a handful of small files, so every request is a map lookup
 * and no request path ever reaches the file system (no traversal to guard against).
 */
export function loadUiBundle(dir: string = UI_BUNDLE_DIR): ReadonlyMap<string, BundleFile> {
  if (!existsSync(join(dir, 'index.html'))) {
    throw new FeaturelogError(
      'UI_BUNDLE_MISSING',
      `the web UI's bundle is not built (no ${join(dir, 'index.html')}): run \`npm run build\``,
    );
  }
  const files = new Map<string, BundleFile>();
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const contentType = CONTENT_TYPES[extname(entry.name)];
    if (contentType !== undefined) files.set(entry.name, { contentType, body: readFileSync(join(dir, entry.name)) });
  }
  return files;
}
