import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/**
 * The featurelog package's own files. The CLI runs from its sources (apps/cli/src, in tests) or compiled
 * (dist/apps/cli/src, from the `featurelog` bin); dist/ mirrors the repo root and carries a copy of
 * schemas/ and examples/ (tools/build/build.ts), so these paths are the same relative to this file in both.
 */
const FILES_ROOT = resolve(__dirname, '..', '..', '..');

/** The example repo that `featurelog init` copies. */
export const EXAMPLE_REPO = join(FILES_ROOT, 'examples', 'drivers');
/** The examples `featurelog init --example <name>` can copy, by name; `drivers` is the default. */
export const EXAMPLE_REPOS = {
  drivers: EXAMPLE_REPO,
  /** A PostgreSQL table captured by Debezium through Kafka Connect (Kafka, registry and Redis). */
  cdc: join(FILES_ROOT, 'examples', 'cdc'),
} as const;
/** The JSON schemas of featurelog.yaml and of the definition files. */
export const SCHEMAS_DIR = join(FILES_ROOT, 'schemas');

/** The folder of featurelog's package.json: the checkout, or node_modules/featurelog where it is installed. */
export function packageRoot(): string {
  // From the sources that is FILES_ROOT; compiled it is the folder above dist/.
  for (let dir = FILES_ROOT; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`featurelog: no package.json above ${FILES_ROOT}`);
  }
}

export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}
