import type { CompatibilityProblem } from '@featurelog/avro';
import type { EntityDefinition, FeatureViewDefinition } from '@featurelog/domain';

/** What applying a view did to the data plane. */
export interface ViewProvisioning {
  view: string;
  topic: string;
  subject: string;
  schemaId: number;
  topicCreated: boolean;
}

/** A view as the registry log holds it, with the entities it was applied with. */
export interface AppliedView {
  view: FeatureViewDefinition;
  entities: readonly EntityDefinition[];
}

/** A reason a view's new row schema may not replace the one its topic holds. */
export interface ViewCompatibilityProblem {
  view: string;
  version: number;
  problem: CompatibilityProblem;
}

/**
 * The data-plane side of an apply: row schemas and topics. Kept behind a port so the applier's
 * decisions (what to provision, in which order, when to refuse) are tested without a broker.
 */
export interface Provisioner {
  /** The project's own topics (registry, segments, jobs, dead letters). Idempotent. */
  ensureProjectTopics(): Promise<void>;
  /**
   * Problems that would make provisioning the view fail (an incompatible schema change), each
   * naming the field; empty when it can be applied. `plan` and `apply` both ask this. Changes nothing. `current` is the view as the
   * registry holds it: the change is judged against that, not against whatever the subject's latest
   * schema is (a lost apply race registers a schema that no accepted definition ever had).
   */
  check(
    view: FeatureViewDefinition,
    entities: readonly EntityDefinition[],
    current?: AppliedView,
  ): Promise<ViewCompatibilityProblem[]>;
  /**
   * Registers the row schema under `<topic>-value` (compatible with `current`'s, when given) and
   * creates the topic. Idempotent.
   */
  provision(
    view: FeatureViewDefinition,
    entities: readonly EntityDefinition[],
    current?: AppliedView,
  ): Promise<ViewProvisioning>;
}

export const PROVISIONER = Symbol('featurelog:Provisioner');
