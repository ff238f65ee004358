/**
 * The web UI's bundle (ui/, see the README's "The web UI"): esbuild compiles ui/src/main.tsx (Preact, uPlot and the
 * page's own code) into one minified script and one stylesheet in ui/build/, beside a copy of
 * ui/index.html. Everything the page loads is then served by the UI app itself (apps/ui): no CDN, no
 * request leaves for another host at run time. ui/build/ is gitignored; `npm run build` (npm's
 * `prepare`, so `npm ci`) makes it.
 */
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildSync } from 'esbuild';

export function bundleUi(root: string): { dir: string; files: number } {
  const source = join(root, 'ui');
  const dir = join(source, 'build');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const result = buildSync({
    entryPoints: { app: join(source, 'src', 'main.tsx') },
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['es2022'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    outdir: dir,
    metafile: true,
    legalComments: 'linked',
    logLevel: 'warning',
  });
  copyFileSync(join(source, 'index.html'), join(dir, 'index.html'));
  return { dir, files: Object.keys(result.metafile.outputs).length + 1 };
}
