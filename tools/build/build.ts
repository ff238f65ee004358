/**
 * `npm run build` (also npm's `prepare`, so `npm install`, `npm ci` and `npm pack` run it): compiles
 * apps/ and libs/ into dist/ as CommonJS, so the `featurelog` command starts without compiling
 * TypeScript at every call.
 *
 * dist/ mirrors the repository root: `apps/cli/src/main.ts` becomes `dist/apps/cli/src/main.js`, and the
 * data the code reads beside itself (schemas/, topics/, examples/drivers/ and examples/cdc/) is copied to dist/ at the same place.
 * Every relative path between files (imports, `import x from '../../../schemas/….json'`, the topic
 * declarations, the example repo of `init`) is therefore the same in dist/ as in the checkout, and no
 * source file needs to know whether it runs compiled.
 *
 * The compiler is SWC with the options @swc-node/register derives from tsconfig.json (see swcOptions), the
 * transform that runs the sources in tests and `npm run` scripts, so compiled and source runs agree; it
 * also rewrites the `@featurelog/<lib>` aliases (tsconfig `paths`) into relative requires, which tsc
 * does not do. Types are checked by `npm run typecheck`, not here: the build must stay a few seconds long
 * because it runs on every install.
 *
 * After compiling, every require of the output is checked: a relative one must resolve inside dist/, a
 * package must be one of package.json's dependencies (an installed featurelog has no devDependencies).
 * So a production file that imports something the build leaves out (a spec, a test kit) or a
 * devDependency fails the build, not a user's command.
 */
import { builtinModules } from 'node:module';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { transformSync, type Options } from '@swc/core';
import Ajv2020 from 'ajv/dist/2020';
import standaloneCode from 'ajv/dist/standalone';
import { VALIDATED_SCHEMAS, VALIDATOR_OPTIONS } from '@featurelog/config';
import { readDefaultTsConfig, tsCompilerOptionsToSwcConfig } from '@swc-node/register/read-default-tsconfig';
import { ModuleKind } from 'typescript';
import { bundleUi } from './ui-bundle';

const ROOT = resolve(__dirname, '..', '..');
const OUT = join(ROOT, 'dist');
/** Compiled: the apps (the CLI's `dev` runs them all) and the libs they use. */
const SOURCE_DIRS = ['apps', 'libs'];
/**
 * Test code is not shipped: specs, their kits, the adapters' contract suites and fixtures, each lib's
 * `testing` entry (@featurelog/<lib>/testing, where specs reach the contracts) and libs/testing. The
 * dependency rules keep production files from importing any of it, and the require check below fails
 * the build if one does.
 */
const NOT_SHIPPED = /\.(spec|test-kit|contract|fixture)\.ts$|\.d\.ts$|^libs\/[^/]+\/src\/testing\.ts$|^libs\/testing\//;
/** Read at run time beside the code, at the same relative place as in the checkout. */
const DATA_DIRS = ['schemas', 'topics', join('examples', 'drivers'), join('examples', 'cdc')];

function sources(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules' && !entry.name.startsWith('.')) found.push(...sources(path));
    } else if (entry.name.endsWith('.ts') && !NOT_SHIPPED.test(path.split(sep).join('/'))) {
      found.push(path);
    }
  }
  return found;
}

/** Packages the shipped code may require: what an install of the package brings, not the devDependencies. */
function runtimePackages(): Set<string> {
  const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
  };
  return new Set([...Object.keys(manifest.dependencies ?? {}), ...builtinModules]);
}

/** Bare requires of compiled CommonJS whose package an installed featurelog would not have. */
function undeclaredPackages(file: string, code: string, allowed: ReadonlySet<string>): string[] {
  const missing: string[] = [];
  for (const [, specifier] of code.matchAll(/require\("([^."][^"]*)"\)/g)) {
    if (specifier!.startsWith('node:')) continue;
    const parts = specifier!.split('/');
    const name = specifier!.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
    if (!allowed.has(name)) missing.push(`${relative(OUT, file)} requires ${specifier}, which is no dependency`);
  }
  return missing;
}

/** Relative requires of compiled CommonJS that must resolve to a shipped file. */
function unresolvedRequires(file: string, code: string): string[] {
  const missing: string[] = [];
  for (const [, specifier] of code.matchAll(/require\("(\.{1,2}\/[^"]*)"\)/g)) {
    const target = resolve(dirname(file), specifier!);
    const candidates = [target, `${target}.js`, join(target, 'index.js')];
    if (!candidates.some((candidate) => existsSync(candidate) && !candidate.endsWith('/'))) {
      missing.push(`${relative(OUT, file)} requires ${specifier}`);
    }
  }
  return missing;
}

/**
 * What @swc-node/register compiles a required file with (@swc-node/core's options from
 * tsCompilerOptionsToSwcConfig: CommonJS, the tsconfig's target, legacy decorators with metadata,
 * paths), with two differences. No source maps: they would double the package for stack traces a CLI
 * user never sees. And `lazy` CommonJS imports: a package or a lib is required when one of its bindings
 * is first used, not when the importing file loads. The libs' index files load every adapter, so
 * without it `featurelog plan` on the embedded stores would load kafkajs, ioredis and NestJS; with it
 * a command loads the drivers its configuration uses. Relative imports and side-effect imports
 * (`import 'reflect-metadata'`) stay eager, so load order within a lib is unchanged.
 */
function swcOptions(path: string, tsconfig: Parameters<typeof tsCompilerOptionsToSwcConfig>[0]): Options {
  const derived = tsCompilerOptionsToSwcConfig({ ...tsconfig, module: ModuleKind.CommonJS }, path);
  return {
    filename: path,
    swcrc: false,
    configFile: false,
    isModule: true,
    sourceMaps: false,
    jsc: {
      target: derived.target,
      parser: { syntax: 'typescript', decorators: derived.experimentalDecorators, dynamicImport: true },
      transform: {
        legacyDecorator: derived.experimentalDecorators,
        decoratorVersion: '2021-12',
        decoratorMetadata: derived.emitDecoratorMetadata,
        useDefineForClassFields: derived.useDefineForClassFields,
      },
      keepClassNames: derived.keepClassNames,
      ...(derived.baseUrl === undefined ? {} : { baseUrl: derived.baseUrl }),
      ...(derived.paths === undefined ? {} : { paths: derived.paths }),
      experimental: { keepImportAttributes: true },
    },
    module: { type: 'commonjs', noInterop: !derived.esModuleInterop, ignoreDynamic: false, lazy: true },
  };
}

/** libs/config's schemaValidator(), replaced in dist/ (see its doc): the module and its precompiled validators. */
const SCHEMA_VALIDATORS = join('libs', 'config', 'src', 'schema-validators');

/** Ajv's standalone code of the validators schemaValidator() compiles, with the same schemas and options. */
export function standaloneSchemaValidators(): string {
  const ajv = new Ajv2020({ ...VALIDATOR_OPTIONS, code: { ...VALIDATOR_OPTIONS.code, source: true } });
  for (const [name, schema] of Object.entries(VALIDATED_SCHEMAS)) ajv.addSchema(schema, name);
  return standaloneCode(ajv, Object.fromEntries(Object.keys(VALIDATED_SCHEMAS).map((name) => [name, name])));
}

/**
 * dist/libs/config/src/schema-validators.js becomes: the compiled module (renamed .compiled.js), with
 * schemaValidator(name) answered from the standalone validators (.standalone.js) instead of compiling.
 */
function precompileSchemaValidators(): Array<{ file: string; code: string }> {
  const base = join(OUT, SCHEMA_VALIDATORS);
  renameSync(`${base}.js`, `${base}.compiled.js`);
  const standalone = { file: `${base}.standalone.js`, code: standaloneSchemaValidators() };
  const module = {
    file: `${base}.js`,
    code: [
      '"use strict";',
      '// Written by tools/build/build.ts: schema-validators.ts as compiled, but with validators Ajv generated at build time.',
      'const compiled = require("./schema-validators.compiled");',
      'const standalone = require("./schema-validators.standalone");',
      'const { schemaValidator: _compiles, ...rest } = Object.getOwnPropertyDescriptors(compiled);',
      'Object.defineProperties(exports, rest);',
      'Object.defineProperty(exports, "schemaValidator", { enumerable: true, value: (name) => standalone[name] });',
      '',
    ].join('\n'),
  };
  for (const { file, code } of [standalone, module]) writeFileSync(file, code);
  return [standalone, module];
}

function build(): void {
  const started = performance.now();
  const { fallbackToTs: _fallback, ...tsconfig } = readDefaultTsConfig(join(ROOT, 'tsconfig.json'));
  rmSync(OUT, { recursive: true, force: true });
  const compiled: Array<{ file: string; code: string }> = [];
  for (const source of SOURCE_DIRS.flatMap(sources)) {
    const path = join(ROOT, source);
    const { code } = transformSync(readFileSync(path, 'utf8'), swcOptions(path, tsconfig));
    const file = join(OUT, source.replace(/\.ts$/, '.js'));
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, code);
    compiled.push({ file, code });
  }
  compiled.push(...precompileSchemaValidators());
  for (const dir of DATA_DIRS) {
    cpSync(join(ROOT, dir), join(OUT, dir), {
      recursive: true,
      // A repo's local state (the example run in place) is not part of the package.
      filter: (source) => !source.split(/[\\/]/).includes('.featurelog'),
    });
  }
  // The web UI's page and assets, served by apps/ui from the same relative place in dist/ (see ui-bundle).
  const ui = bundleUi(ROOT);
  cpSync(ui.dir, join(OUT, 'ui', 'build'), { recursive: true });
  const allowed = runtimePackages();
  const missing = compiled.flatMap(({ file, code }) => [
    ...unresolvedRequires(file, code),
    ...undeclaredPackages(file, code, allowed),
  ]);
  if (missing.length > 0) {
    throw new Error(`dist/ would fail where featurelog is installed:\n  ${missing.join('\n  ')}`);
  }
  process.stdout.write(
    `featurelog build: ${compiled.length} files and the web UI (${ui.files} files) into ${relative(process.cwd(), OUT) || '.'} in ${Math.round(performance.now() - started)} ms\n`,
  );
}

if (require.main === module) build();
