import { randomUUID } from 'node:crypto';
import {
  applyOutcome,
  describeBreakingChange,
  describeConnectorRefusal,
  FeaturelogError,
  getDataSource,
  getEntity,
  getView,
  DefinitionsInvalidError,
  hasChanges,
  planChanges,
  planToChangeset,
  validateDefinitions,
  type BreakingChange,
  type EntityDefinition,
  type FeatureViewDefinition,
  type Plan,
  type PlanOptions,
  type RegistryState,
  type TaggedDefinition,
} from '@featurelog/domain';
import { describeRowProblem } from '@featurelog/avro';
import type { EventLog } from '@featurelog/log';
import { ConnectWorkers } from './connect-workers';
import type { Provisioner, ViewCompatibilityProblem, ViewProvisioning } from './provisioner.port';
import type { RegistryCodec } from './registry-codec.port';
import type { RegistryFollower } from './registry-follower';

export interface ApplyResult {
  plan: Plan;
  /** False when the plan had nothing to apply: no event was written. */
  applied: boolean;
  /** Offset of the changeset, and the registry version it produced. */
  offset?: number;
  version: number;
  provisioned: ViewProvisioning[];
}

export interface ApplyOptions extends PlanOptions {
  author?: string;
}

/**
 * Plans and applies definition changes. An apply is one changeset event carrying the version it
 * was planned against; the fold accepts it only if the registry has not moved since, so of two
 * concurrent applies exactly one wins and the other is told to re-plan (REGISTRY_VERSION_CONFLICT).
 *
 * Data-plane work (schemas, topics) happens before the event is written and only for views whose
 * change touches data: a metadata-only change never touches a topic, a schema or a stored row.
 */
export class RegistryApplier {
  constructor(
    private readonly log: EventLog,
    private readonly codec: RegistryCodec,
    private readonly follower: RegistryFollower,
    private readonly provisioner: Provisioner,
    /** The Connect workers of featurelog.yaml: connector configs are validated by them before they are applied. */
    private readonly connect: ConnectWorkers = new ConnectWorkers({}),
  ) {}

  /**
   * Validates the definitions and compares them with the registry as it is now; runs the
   * compatibility check apply would run (against the schema registry, changing nothing) and lists
   * what apply would refuse in `breaking`, so a plan never hides a refusal.
   */
  async plan(desired: readonly TaggedDefinition[], options: PlanOptions = {}): Promise<Plan> {
    const plan = await this.compare(desired, options);
    const breaking = (await this.compatibilityProblems(plan)).map(breakingChange);
    const refusedConnectors = await this.connect.check(plan);
    return {
      ...plan,
      ...(breaking.length > 0 && { breaking }),
      ...(refusedConnectors.length > 0 && { refusedConnectors }),
    };
  }

  /** Plans against the registry as it is now and applies that plan. */
  async apply(desired: readonly TaggedDefinition[], options: ApplyOptions = {}): Promise<ApplyResult> {
    // applyPlan runs the compatibility check itself; no need to run it twice.
    return this.applyPlan(await this.compare(desired, options), options);
  }

  private async compare(desired: readonly TaggedDefinition[], options: PlanOptions): Promise<Plan> {
    const problems = validateDefinitions(desired);
    if (problems.length > 0) throw new DefinitionsInvalidError(problems);
    await this.follower.catchUp();
    this.follower.assertComplete();
    return planChanges(desired, this.follower.state, options);
  }

  /** The views whose change touches their own topic's row schema, checked as `provision` would check them. */
  private async compatibilityProblems(plan: Plan): Promise<ViewCompatibilityProblem[]> {
    const desired = desiredDefinitionsOf(plan);
    const entities = desired.filter((t) => t.kind === 'entity').map((t) => t.definition as EntityDefinition);
    const held = this.follower.state;
    return (
      await Promise.all(
        this.dataViews(plan, desired).map((view) => this.provisioner.check(view, entities, appliedView(held, view))),
      )
    ).flat();
  }

  private dataViews(plan: Plan, desired: readonly TaggedDefinition[]): FeatureViewDefinition[] {
    return plan.items
      .filter((item) => item.willApply && item.kind === 'feature_view' && item.action !== 'delete' && item.touchesData)
      .map((item) => item.after as FeatureViewDefinition)
      .filter((view) => this.usesManagedTopic(view, desired));
  }

  /**
   * Applies a plan made earlier (a saved, reviewed `plan --out` file): exactly its changes, against
   * exactly the version it was made on. If the registry has moved since, nothing is provisioned or
   * written and REGISTRY_VERSION_CONFLICT says to plan again; if it moves between this check and
   * the append, the fold refuses the changeset with the same error.
   */
  async applyPlan(plan: Plan, options: Pick<ApplyOptions, 'author'> = {}): Promise<ApplyResult> {
    const desired = desiredDefinitionsOf(plan);
    const problems = validateDefinitions(desired);
    if (problems.length > 0) throw new DefinitionsInvalidError(problems, 'the plan holds invalid definitions');
    if (!hasChanges(plan)) return { plan, applied: false, version: plan.basedOnVersion, provisioned: [] };
    await this.follower.catchUp();
    this.follower.assertComplete();
    if (this.follower.state.version !== plan.basedOnVersion) {
      throw versionConflict(plan.basedOnVersion, this.follower.state.version);
    }

    const dataViews = this.dataViews(plan, desired);
    const entities = desired.filter((t) => t.kind === 'entity').map((t) => t.definition as EntityDefinition);
    const held = this.follower.state;
    const refusals = (await this.compatibilityProblems(plan)).map(breakingChange);
    if (refusals.length > 0) {
      throw new FeaturelogError(
        'SCHEMA_INCOMPATIBLE',
        `the change is not backward compatible, so nothing was applied:\n  ${refusals.map(describeBreakingChange).join('\n  ')}`,
      );
    }
    // Before anything is provisioned or written: a worker that is down or refuses a config stops the apply.
    const refusedConnectors = await this.connect.check(plan);
    if (refusedConnectors.length > 0) {
      throw new FeaturelogError(
        'CONNECTOR_CONFIG_REFUSED',
        `the Connect worker refused connector config(s), so nothing was applied:\n  ${refusedConnectors.map(describeConnectorRefusal).join('\n  ')}`,
      );
    }
    await this.provisioner.ensureProjectTopics();
    const provisioned: ViewProvisioning[] = [];
    for (const view of dataViews) {
      provisioned.push(await this.provisioner.provision(view, entities, appliedView(held, view)));
    }

    const applyId = randomUUID();
    const changeset = planToChangeset(plan, {
      applyId,
      appliedAt: Date.now() * 1000,
      ...(options.author === undefined ? {} : { author: options.author }),
    });
    const [position] = await this.log.append(this.follower.topic, [
      { key: Buffer.from(applyId), value: await this.codec.encode(changeset), partition: 0 },
    ]);
    const state = await this.follower.waitForOffset(position!.offset);
    return this.outcome(state, applyId, plan, provisioned);
  }

  /** Only a view that reads an existing Kafka topic has no topic of its own: file sources are ingested into it. */
  private usesManagedTopic(view: FeatureViewDefinition, desired: readonly TaggedDefinition[]): boolean {
    if (view.source === undefined) return true;
    return getDataSource(desired, view.source)?.kind !== 'kafka';
  }

  private outcome(state: RegistryState, applyId: string, plan: Plan, provisioned: ViewProvisioning[]): ApplyResult {
    const outcome = applyOutcome(state, applyId);
    if (outcome?.status === 'accepted') {
      return { plan, applied: true, offset: outcome.offset, version: outcome.version, provisioned };
    }
    if (outcome?.status === 'rejected') {
      if (outcome.reason !== 'VERSION_CONFLICT') {
        throw new FeaturelogError(
          'REGISTRY_APPLY_REFUSED',
          `the registry refused apply ${applyId} at offset ${outcome.offset} (${outcome.reason}): ${outcome.message}`,
        );
      }
      throw versionConflict(plan.basedOnVersion, outcome.currentVersion);
    }
    throw new FeaturelogError('REGISTRY_APPLY_LOST', `apply ${applyId} was written but not found in the fold`);
  }
}

/** The view as the registry holds it, with the entities it was applied with. */
function appliedView(held: RegistryState, view: FeatureViewDefinition) {
  const before = getView(held, view.name);
  if (before === undefined) return undefined;
  return { view: before, entities: before.entities.flatMap((name) => getEntity(held, name) ?? []) };
}

/** A refused row schema change in featurelog's words; the way forward is always a new view version. */
function breakingChange({ view, version, problem }: ViewCompatibilityProblem): BreakingChange {
  return {
    kind: 'feature_view',
    name: view,
    version,
    problem: describeRowProblem(problem),
    remedy: `give the view \`version: ${version + 1}\` to start a new view version`,
  };
}

function versionConflict(planned: number, current: number): FeaturelogError {
  return new FeaturelogError(
    'REGISTRY_VERSION_CONFLICT',
    `the registry changed since this apply was planned (planned against version ${planned}, now ${current}): ` +
      'nothing was applied; run plan again and re-apply',
    { retriable: true },
  );
}

/**
 * What the registry holds once the plan is applied: every created, updated and unchanged object,
 * and the deletes the plan leaves in place (removed from the files, but not pruned).
 */
export function desiredDefinitionsOf(plan: Plan): TaggedDefinition[] {
  return plan.items.flatMap((item) => {
    const definition = item.action === 'delete' ? (item.willApply ? undefined : item.before) : item.after;
    return definition === undefined ? [] : [{ kind: item.kind, definition } as TaggedDefinition];
  });
}
