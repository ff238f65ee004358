// First: the libs' NestJS decorators record their metadata through it as their classes are defined.
import 'reflect-metadata';
import { cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { relative, resolve, sep } from 'node:path';
import { Document, isScalar } from 'yaml';
import {
  DEFINITION_KINDS,
  FeaturelogError,
  hasChanges,
  listDefinitions,
  registryObjectKey,
  type DefinitionKind,
  type Plan,
  type RegistryObjectVersion,
  type TaggedDefinition,
} from '@featurelog/domain';
import { toYamlDefinition } from '@featurelog/config';
import { consoleOutput, isoMicros, renderPlan, table } from '../output';
import { loadConfig, loadRepo, withRuntime } from '../repo';
import { EXAMPLE_REPOS, writeEmptyRepo, writeSchemaReferences } from '../scaffold';
import { PLAN_BREAKING_EXIT_CODE, PLAN_HAS_CHANGES_EXIT_CODE } from '../exit-codes';
import type { ApiKeyOptions } from '../api-key';

const KIND_ALIASES: Record<string, DefinitionKind> = {
  entity: 'entity',
  entities: 'entity',
  'data-source': 'data_source',
  'data-sources': 'data_source',
  data_source: 'data_source',
  data_sources: 'data_source',
  'feature-view': 'feature_view',
  'feature-views': 'feature_view',
  feature_view: 'feature_view',
  feature_views: 'feature_view',
  views: 'feature_view',
  view: 'feature_view',
  'feature-service': 'feature_service',
  'feature-services': 'feature_service',
  feature_service: 'feature_service',
  feature_services: 'feature_service',
  services: 'feature_service',
  service: 'feature_service',
  connector: 'connector',
  connectors: 'connector',
};

function parseKind(text: string): DefinitionKind {
  // Own keys only: `constructor` must not resolve through the object's prototype.
  const kind = Object.hasOwn(KIND_ALIASES, text) ? KIND_ALIASES[text] : undefined;
  if (!kind) {
    throw new FeaturelogError('UNKNOWN_KIND', `unknown kind '${text}': expected one of ${DEFINITION_KINDS.join(', ')}`);
  }
  return kind;
}

export interface CommonOptions extends ApiKeyOptions {
  repo: string;
  json: boolean;
}

export type InitOptions = CommonOptions & { empty: boolean; example?: string };
export type PlanOptions = CommonOptions & { prune: boolean; out?: string };
export type ApplyOptions = CommonOptions & { prune: boolean; author?: string };

export async function init(dir: string, options: InitOptions): Promise<void> {
  const out = consoleOutput(options.json);
  const name = options.example ?? 'drivers';
  const example = Object.hasOwn(EXAMPLE_REPOS, name) ? EXAMPLE_REPOS[name as keyof typeof EXAMPLE_REPOS] : undefined;
  if (example === undefined) {
    throw new FeaturelogError(
      'INIT_EXAMPLE_UNKNOWN',
      `no example "${name}": choose one of ${Object.keys(EXAMPLE_REPOS).join(', ')}`,
    );
  }
  const target = resolve(dir);
  await mkdir(target, { recursive: true });
  if ((await readdir(target)).length > 0) {
    throw new FeaturelogError('INIT_TARGET_NOT_EMPTY', `${target} is not empty; choose a new folder`);
  }
  if (options.empty) {
    await writeEmptyRepo(target);
  } else {
    await cp(example, target, {
      recursive: true,
      // data a run of the example left in the checkout is not part of it
      filter: (source) => !relative(example, source).split(sep).includes('.featurelog'),
    });
  }
  // The example's own `$schema` comments are relative to the example folder; point them at this install's schemas.
  await writeSchemaReferences(target);
  out.print(
    options.empty
      ? `Created an empty feature repo in ${target}\nNext: add definition files (*.yaml), then cd ${dir} && featurelog plan`
      : name === 'cdc'
        ? `Created a feature repo in ${target} (PostgreSQL → Debezium → featurelog)\nNext: cd ${dir} and follow README.md`
        : `Created a feature repo in ${target}\nNext: cd ${dir} && featurelog plan && featurelog apply`,
  );
  out.data({ created: target });
}

export async function plan(options: PlanOptions): Promise<void> {
  const out = consoleOutput(options.json);
  const repo = await loadRepo(options);
  const plan = await withRuntime(repo.config, options, async (runtime) =>
    runtime.registry().applier.plan(repo.definitions.map(stripLocation), { prune: options.prune }),
  );
  const breaking = (plan.breaking ?? []).length > 0 || (plan.refusedConnectors ?? []).length > 0;
  // A plan apply would refuse is not worth keeping for a later apply.
  if (options.out !== undefined && !breaking) {
    const saved: SavedPlan = { format: SAVED_PLAN_FORMAT, project: repo.config.project, plan };
    await writeFile(resolve(options.out), `${JSON.stringify(saved, null, 2)}\n`);
  }
  out.print(renderPlan(plan, repo.config.project));
  if (options.out !== undefined) {
    out.print(
      breaking
        ? `Not saved to ${options.out}: apply would refuse this plan.`
        : `Saved to ${options.out}; apply exactly this plan with: featurelog apply ${options.out}`,
    );
  }
  out.data(plan);
  if (breaking) process.exitCode = PLAN_BREAKING_EXIT_CODE;
  else if (hasChanges(plan)) process.exitCode = PLAN_HAS_CHANGES_EXIT_CODE;
}

export async function apply(planFile: string | undefined, options: ApplyOptions): Promise<void> {
  const out = consoleOutput(options.json);
  const author = options.author ? { author: options.author } : {};
  const repo = planFile === undefined ? await loadRepo(options) : undefined;
  const config = repo?.config ?? (await loadConfig(options));
  const saved = planFile === undefined ? undefined : await readSavedPlan(planFile, config.project);
  const result = await withRuntime(config, options, async (runtime) => {
    const { applier } = runtime.registry();
    return saved
      ? applier.applyPlan(saved.plan, author)
      : applier.apply(repo!.definitions.map(stripLocation), { prune: options.prune, ...author });
  });
  out.print(renderPlan(result.plan, config.project));
  for (const p of result.provisioned) {
    out.print(
      `  provisioned ${p.topic} (${p.topicCreated ? 'created' : 'exists'}), schema ${p.subject} id ${p.schemaId}`,
    );
  }
  out.print(
    result.applied
      ? `\nApplied at offset ${result.offset}: registry version ${result.version}.`
      : `\nNothing to apply: registry version ${result.version}.`,
  );
  out.data(result);
}

export async function ls(kindText: string, options: CommonOptions): Promise<void> {
  const kind = parseKind(kindText);
  if (kind === 'connector') return (await import('./connector.actions')).lsConnectors(options);
  const out = consoleOutput(options.json);
  const state = await registryState(options);
  const objects = listDefinitions(state, kind).map(
    (tagged) => state.objects[registryObjectKey(kind, tagged.definition.name)]!,
  );
  out.data(objects.map(({ history: _history, ...object }) => object));
  out.print(
    table(
      ['name', 'description', 'owner', 'updated', 'offset'],
      objects.map((o) => [
        o.name,
        o.definition?.description ?? '',
        o.definition?.owner ?? '',
        isoMicros(o.updatedAt),
        o.offset,
      ]),
    ),
  );
}

/** Unbounded TTL (`ttl: 0`) is easy to misread as "expires at once": describe says what it means. */
const UNBOUNDED_TTL_NOTE =
  ' unbounded: online values never turn OUTSIDE_MAX_AGE, and point-in-time joins look back without limit';

export async function describe(kindText: string, name: string, options: CommonOptions): Promise<void> {
  const kind = parseKind(kindText);
  const out = consoleOutput(options.json);
  const object = (await registryState(options)).objects[registryObjectKey(kind, name)];
  if (!object || object.deleted) throw new FeaturelogError('OBJECT_NOT_FOUND', `no ${kind} named '${name}'`);
  const { history: _history, ...current } = object;
  out.data(current);
  out.print(`${kind} ${name} (version at offset ${object.offset}, updated ${isoMicros(object.updatedAt)})`);
  const document = new Document(toYamlDefinition({ kind, definition: object.definition } as TaggedDefinition));
  const ttl = document.get('ttl', true);
  if (isScalar(ttl) && ttl.value === 0) ttl.comment = UNBOUNDED_TTL_NOTE;
  out.print(document.toString().trimEnd());
  if (kind === 'connector') await (await import('./connector.actions')).printConnectorStatus(object, options);
}

export async function history(kindText: string, name: string, options: CommonOptions): Promise<void> {
  const kind = parseKind(kindText);
  const out = consoleOutput(options.json);
  const object = (await registryState(options)).objects[registryObjectKey(kind, name)];
  if (!object) throw new FeaturelogError('OBJECT_NOT_FOUND', `no ${kind} named '${name}' was ever applied`);
  out.data(object.history);
  out.print(
    table(
      ['offset', 'applied at', 'op', 'author', 'apply id'],
      object.history.map((v: RegistryObjectVersion) => [
        v.offset,
        isoMicros(v.appliedAt),
        v.op,
        v.author ?? '',
        v.applyId,
      ]),
    ),
  );
}

/** Marks a `plan --out` file, so `apply` can tell it from any other JSON. */
const SAVED_PLAN_FORMAT = 'featurelog-plan/1';

interface SavedPlan {
  format: typeof SAVED_PLAN_FORMAT;
  project: string;
  plan: Plan;
}

async function readSavedPlan(file: string, project: string): Promise<SavedPlan> {
  let saved: Partial<SavedPlan>;
  try {
    saved = JSON.parse(await readFile(resolve(file), 'utf8')) as Partial<SavedPlan>;
  } catch (error) {
    throw new FeaturelogError('PLAN_FILE_UNREADABLE', `cannot read the plan file ${file}`, { cause: error });
  }
  if (saved?.format !== SAVED_PLAN_FORMAT || !Array.isArray(saved.plan?.items)) {
    throw new FeaturelogError('PLAN_FILE_INVALID', `${file} is not a plan saved by \`featurelog plan --out\``);
  }
  if (saved.project !== project) {
    throw new FeaturelogError(
      'PLAN_FILE_INVALID',
      `${file} is a plan for project '${saved.project}', but this repo is project '${project}'`,
    );
  }
  return saved as SavedPlan;
}

function stripLocation({ kind, definition }: TaggedDefinition): TaggedDefinition {
  return { kind, definition } as TaggedDefinition;
}

async function registryState(options: CommonOptions) {
  const config = await loadConfig(options);
  return withRuntime(config, options, async (runtime) => {
    const { follower } = runtime.registry();
    return follower.caughtUpState();
  });
}
