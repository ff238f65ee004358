import { topicNames, valueSubject, type EntityDefinition, type FeatureViewDefinition } from '@featurelog/domain';
import {
  backwardCompatibilityProblems,
  rowSchemaFor,
  type CompatibilityProblem,
  type SchemaRegistryPort,
} from '@featurelog/avro';
import type { EventLog, TopicSpec } from '@featurelog/log';
import type { AppliedView, Provisioner, ViewCompatibilityProblem, ViewProvisioning } from './provisioner.port';

/** The topic specs the provisioner creates; they come from the declarations in topics/. */
export interface ProjectTopicSpecs {
  /** registry, segments, jobs and dead letters of the project. */
  project: TopicSpec[];
  /** A view's managed feature topic, with the view's partitions or the declared default. */
  features(view: FeatureViewDefinition): TopicSpec;
}

/**
 * Provisions the data plane of an apply on the real ports: the row schema registered under
 * `<topic>-value` with BACKWARD compatibility, and the topic created with its declared configs.
 */
export class LogProvisioner implements Provisioner {
  constructor(
    private readonly project: string,
    private readonly log: EventLog,
    private readonly schemas: SchemaRegistryPort,
    private readonly topics: ProjectTopicSpecs,
  ) {}

  async ensureProjectTopics(): Promise<void> {
    for (const spec of this.topics.project) await this.log.ensureTopic(spec);
  }

  async check(
    view: FeatureViewDefinition,
    entities: readonly EntityDefinition[],
    current?: AppliedView,
  ): Promise<ViewCompatibilityProblem[]> {
    const schema = rowSchemaFor(view, entities, this.project);
    const baseline = this.baseline(view, current);
    const problems = baseline
      ? backwardCompatibilityProblems(baseline, schema)
      : await this.againstSubject(view, schema);
    return problems.map((problem) => ({ view: view.name, version: view.version, problem }));
  }

  /**
   * A view new to the registry may still find rows of an earlier life in its topic: then the
   * subject's latest schema is what those rows were written with, and the registry (with the
   * subject's compatibility level) decides; its problems are structured against that schema.
   */
  private async againstSubject(view: FeatureViewDefinition, schema: object): Promise<CompatibilityProblem[]> {
    const subject = valueSubject(topicNames.features(this.project, view));
    const verdict = await this.schemas.checkCompatibility(subject, schema);
    if (verdict.compatible) return [];
    const latest = await this.schemas.latestVersion(subject);
    const structured = latest === undefined ? [] : backwardCompatibilityProblems(latest.schema, schema);
    if (structured.length > 0) return structured;
    return verdict.messages.map((message) => ({
      change: 'incompatible' as const,
      role: 'record' as const,
      name: subject,
      reason: message,
      message,
    }));
  }

  async provision(
    view: FeatureViewDefinition,
    entities: readonly EntityDefinition[],
    current?: AppliedView,
  ): Promise<ViewProvisioning> {
    const topic = topicNames.features(this.project, view);
    const subject = valueSubject(topic);
    if ((await this.schemas.latestVersion(subject)) === undefined)
      await this.schemas.setCompatibility(subject, 'BACKWARD');
    const baseline = this.baseline(view, current);
    const schemaId = await this.schemas.register(
      subject,
      rowSchemaFor(view, entities, this.project),
      baseline ? { compatibleWith: baseline } : {},
    );
    const created = await this.log.ensureTopic(this.topics.features(view));
    return { view: view.name, topic, subject, schemaId, topicCreated: created.created };
  }

  /** The row schema of the applied version of the view, when it writes to the same topic. */
  private baseline(view: FeatureViewDefinition, current: AppliedView | undefined) {
    if (current === undefined) return undefined;
    if (topicNames.features(this.project, current.view) !== topicNames.features(this.project, view)) return undefined;
    return rowSchemaFor(current.view, current.entities, this.project);
  }
}
