import { topicNames, valueSubject, type EntityDefinition, type FeatureViewDefinition } from '@featurelog/domain';
import { checkBackwardCompatible, rowSchemaFor, type SchemaRegistryPort } from '@featurelog/avro';
import type { EventLog, TopicSpec } from '@featurelog/log';
import type { AppliedView, Provisioner, ViewProvisioning } from './provisioner.port';

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
  ): Promise<string[]> {
    const schema = rowSchemaFor(view, entities, this.project);
    const baseline = this.baseline(view, current);
    // A view new to the registry may still find rows of an earlier life in its topic: then the
    // subject's latest schema is what those rows were written with.
    const messages = baseline
      ? checkBackwardCompatible(baseline, schema)
      : (await this.schemas.checkCompatibility(valueSubject(topicNames.features(this.project, view)), schema)).messages;
    return messages.map((message) => `view '${view.name}' (v${view.version}): ${message}`);
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
