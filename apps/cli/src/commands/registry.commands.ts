import { cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { resolve, join } from 'node:path';
import type { Command } from 'commander';
import { stringify as stringifyYaml } from 'yaml';
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
import { consoleOutput, isoMicros, renderPlan, table } from '../output';
import { loadConfig, loadRepo, withRuntime } from '../repo';

/** Exit code of `plan` when something would change, so a CI job can tell (like terraform -detailed-exitcode). */
export const PLAN_HAS_CHANGES_EXIT_CODE = 2;

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
};

function parseKind(text: string): DefinitionKind {
  // Own keys only: `constructor` must not resolve through the object's prototype.
  const kind = Object.hasOwn(KIND_ALIASES, text) ? KIND_ALIASES[text] : undefined;
  if (!kind) {
    throw new FeaturelogError('UNKNOWN_KIND', `unknown kind '${text}': expected one of ${DEFINITION_KINDS.join(', ')}`);
  }
  return kind;
}

interface CommonOptions {
  repo: string;
  json: boolean;
}

/** Where `featurelog init` copies its example from: the drivers repo shipped with featurelog. */
const EXAMPLE_REPO = resolve(__dirname, '..', '..', '..', '..', 'examples', 'drivers');

export function registerRegistryCommands(program: Command): void {
  program
    .command('init')
    .description('scaffold an example feature repo (drivers with hourly stats, a feature service, sample data)')
    .argument('[dir]', 'folder to create', 'feature_repo')
    .action(async (dir: string, options: CommonOptions) => {
      const out = consoleOutput(options.json);
      const target = resolve(dir);
      await mkdir(target, { recursive: true });
      if ((await readdir(target)).length > 0) {
        throw new FeaturelogError('INIT_TARGET_NOT_EMPTY', `${target} is not empty; choose a new folder`);
      }
      await cp(EXAMPLE_REPO, target, {
        recursive: true,
        filter: (source) => !source.includes(`${join('drivers', '.featurelog')}`),
      });
      out.print(`Created a feature repo in ${target}\nNext: cd ${dir} && featurelog plan && featurelog apply`);
      out.data({ created: target });
    });

  program
    .command('plan')
    .description(`show what apply would change; exit code ${PLAN_HAS_CHANGES_EXIT_CODE} when something would change`)
    .option('--prune', 'also delete objects removed from the files', false)
    .option('--out <file>', 'save the plan, to apply exactly it later with `apply <file>`')
    .action(async (options: CommonOptions & { prune: boolean; out?: string }) => {
      const out = consoleOutput(options.json);
      const repo = await loadRepo(options);
      const plan = await withRuntime(repo.config, async (runtime) =>
        runtime.registry().applier.plan(repo.definitions.map(stripLocation), { prune: options.prune }),
      );
      if (options.out !== undefined) {
        const saved: SavedPlan = { format: SAVED_PLAN_FORMAT, project: repo.config.project, plan };
        await writeFile(resolve(options.out), `${JSON.stringify(saved, null, 2)}\n`);
      }
      out.print(renderPlan(plan, repo.config.project));
      if (options.out !== undefined)
        out.print(`Saved to ${options.out}; apply exactly this plan with: featurelog apply ${options.out}`);
      out.data(plan);
      if (hasChanges(plan)) process.exitCode = PLAN_HAS_CHANGES_EXIT_CODE;
    });

  program
    .command('apply')
    .description('apply the definitions: provision schemas and topics, then append one changeset to the registry log')
    .argument('[plan-file]', 'a plan saved by `plan --out`: apply exactly it, or fail if the registry has moved since')
    .option('--prune', 'delete objects removed from the files', false)
    .option('--author <name>', 'recorded in the registry history', process.env.USER ?? userInfo().username)
    .action(async (planFile: string | undefined, options: CommonOptions & { prune: boolean; author?: string }) => {
      const out = consoleOutput(options.json);
      const author = options.author ? { author: options.author } : {};
      const repo = planFile === undefined ? await loadRepo(options) : undefined;
      const config = repo?.config ?? (await loadConfig(options));
      const saved = planFile === undefined ? undefined : await readSavedPlan(planFile, config.project);
      const result = await withRuntime(config, async (runtime) => {
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
    });

  program
    .command('ls')
    .description('list the objects of one kind')
    .argument('<kind>', 'entities | data-sources | feature-views | feature-services')
    .action(async (kindText: string, options: CommonOptions) => {
      const kind = parseKind(kindText);
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
    });

  program
    .command('describe')
    .description('show one object as the registry holds it')
    .argument('<kind>')
    .argument('<name>')
    .action(async (kindText: string, name: string, options: CommonOptions) => {
      const kind = parseKind(kindText);
      const out = consoleOutput(options.json);
      const object = (await registryState(options)).objects[registryObjectKey(kind, name)];
      if (!object || object.deleted) throw new FeaturelogError('OBJECT_NOT_FOUND', `no ${kind} named '${name}'`);
      const { history: _history, ...current } = object;
      out.data(current);
      out.print(`${kind} ${name} (version at offset ${object.offset}, updated ${isoMicros(object.updatedAt)})`);
      out.print(stringifyYaml({ kind, ...object.definition }).trimEnd());
    });

  program
    .command('history')
    .description('every version of one object, with its log offset and time')
    .argument('<kind>')
    .argument('<name>')
    .action(async (kindText: string, name: string, options: CommonOptions) => {
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
    });
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
  return withRuntime(config, async (runtime) => {
    const { follower } = runtime.registry();
    await follower.catchUp();
    follower.assertComplete();
    return follower.state;
  });
}
