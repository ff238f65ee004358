import { readdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { EXAMPLE_REPO, EXAMPLE_REPOS, SCHEMAS_DIR, packageRoot } from './package-files';

export { EXAMPLE_REPO, EXAMPLE_REPOS };

const PROJECT_FILE = 'featurelog.yaml';
/** The editor hint every YAML file of a repo starts with (yaml-language-server, used by VS Code and others). */
const SCHEMA_COMMENT = /^# yaml-language-server: \$schema=\S*?([\w.-]+\.schema\.json)[ \t]*$/m;

/**
 * Where a repo's `$schema` comment should point for `schemaFile`, seen from `fromDir`.
 *
 * A relative path when the repo lies inside the project that holds featurelog (the folder above
 * node_modules/featurelog, or the checkout itself): that path survives moving or cloning the whole
 * project, and every clone has the schemas after `npm install`. Otherwise (a repo in a folder of its own,
 * such as the quickstart's temp folder) an absolute file URL of this install's schemas: no relative path
 * would survive a move any better, and this one reads plainly.
 */
export function schemaReference(schemaFile: string, fromDir: string): string {
  const root = packageRoot();
  const installedIn = basename(dirname(root)) === 'node_modules' ? dirname(dirname(root)) : root;
  const within = relative(installedIn, fromDir);
  if (within !== '..' && !within.startsWith(`..${sep}`) && !isAbsolute(within)) {
    return relative(fromDir, schemaFile).split(sep).join('/');
  }
  return pathToFileURL(schemaFile).href;
}

/** Points the `$schema` comment of every YAML file of the repo (not hidden folders) at this install's schemas. */
export async function writeSchemaReferences(repoDir: string, dir = repoDir): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory() && !entry.name.startsWith('.')) await writeSchemaReferences(repoDir, path);
    if (!entry.isFile() || !/\.ya?ml$/.test(entry.name)) continue;
    const text = await readFile(path, 'utf8');
    const match = SCHEMA_COMMENT.exec(text);
    if (!match) continue;
    const reference = schemaReference(join(SCHEMAS_DIR, match[1]!), dir);
    await writeFile(path, text.replace(SCHEMA_COMMENT, `# yaml-language-server: $schema=${reference}`));
  }
}

/** The project name of a new repo: its folder's name, made a valid project name (^[a-z][a-z0-9_-]*$). */
export function projectNameFor(dir: string): string {
  const name = basename(dir)
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '_')
    .replace(/^[^a-z]+/, '');
  return name === '' ? 'features' : name;
}

/**
 * `init --empty`: featurelog.yaml only, the example's settings (embedded stores, the distributed
 * alternatives commented) under a project named after the folder. `plan` on it shows nothing to do.
 */
export async function writeEmptyRepo(target: string): Promise<void> {
  const settings = await readFile(join(EXAMPLE_REPO, PROJECT_FILE), 'utf8');
  const project = /^project: .*$/m;
  if (!project.test(settings)) throw new Error(`${join(EXAMPLE_REPO, PROJECT_FILE)} has no project: line`);
  await writeFile(join(target, PROJECT_FILE), settings.replace(project, `project: ${projectNameFor(target)}`));
}
