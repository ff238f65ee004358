import {
  FeaturelogError,
  type FeatureViewDefinition,
  type EntityDefinition,
  type RegistryState,
} from '@featurelog/domain';
import { RowDecoder, type KafkaDataSource } from '@featurelog/avro';
import {
  describeError as describe,
  ProjectionRuntime,
  type Projection,
  type StreamContext,
  type StreamRun,
  type StreamSpec,
} from '@featurelog/projection';
import { materializerSettings, type MaterializerOptions, type MaterializerSettings } from './materializer-options';
import { CHECKPOINT_MARKER_TOPIC, OnlineRun, type OnlineViews } from './online-run';
import { ONLINE_LAYOUT } from '@featurelog/online-store';
import { ViewProjection } from './view-projection';

export { CHECKPOINT_MARKER_TOPIC };

/** The materializer runs as one stream over every online view's topic. */
const STREAM = 'online';

/**
 * Projects the feature topics of every online view into the online store: the latest row per
 * (entity, view) by last-write-wins, decided by the store.
 *
 * Exactly-once in effect: each batch is written with its partition's next offset in the same atomic
 * store write, and consumption starts from those stored offsets (never from the group's commits), so
 * after a crash it resumes exactly where its writes stopped; anything replayed loses last-write-wins.
 *
 * It is a projection (see ProjectionRuntime, which follows the registry, retries, dead-letters and
 * restarts): a view applied starts being consumed, a view deleted (or turned offline, or moved to a new
 * version's topic) stops being consumed and its values are removed, without a restart.
 *
 * A wiped store (the checkpoint marker gone, see CHECKPOINT_MARKER_TOPIC) is noticed within
 * `wipeCheckIntervalMs`, or at start, and rebuilt by consuming every topic again from offset 0. So is a
 * store written in an older layout (OnlineStore.checkLayout), found at start: it is wiped first.
 */
export class Materializer implements Projection<OnlineViews> {
  readonly name: string;
  /** Last-write-wins in the store, checkpoints forward only, dead letters once: a batch again changes nothing. */
  readonly rewritesHarmless = true;
  private readonly settings: MaterializerSettings;
  private readonly decoder: RowDecoder;
  /** The runtime it runs on: status, lag and metrics of its streams. */
  readonly runtime: ProjectionRuntime<OnlineViews>;
  /** The projections of the latest registry state, reused while their definition is unchanged. */
  private views: OnlineViews = new Map();
  private readonly existingTopics = new Set<string>();
  /** Set when a wipe was noticed while running: the next run rebuilds without warning again. */
  private rebuildingAfterWipe = false;

  constructor(private readonly options: MaterializerOptions) {
    this.settings = materializerSettings(options);
    // The projection's name in its dead letters is its group, as it always was.
    this.name = this.settings.groupId;
    this.decoder = new RowDecoder(options.schemas);
    const { metrics } = options;
    this.runtime = new ProjectionRuntime(this, {
      log: options.log,
      dlqTopic: this.settings.dlqTopic,
      follower: options.follower,
      registryPollMs: this.settings.registryPollMs,
      initialRetryMs: this.settings.initialRetryMs,
      maxRetryMs: this.settings.maxRetryMs,
      restartDelayMs: this.settings.restartDelayMs,
      maxRestartDelayMs: this.settings.maxRestartDelayMs,
      ...(options.logger === undefined ? {} : { logger: options.logger }),
      events: {
        retry: ({ topic }) => metrics?.retries.inc({ topic }),
        deadLettered: ({ record, error }) => metrics?.deadLetters.inc({ topic: record.topic, code: error.code }),
      },
    });
    metrics?.attach(this);
  }

  /** Topics consumed now, sorted. */
  topics(): string[] {
    return this.runtime.status().flatMap((stream) => stream.topics);
  }

  /** Why the consumer is not running, if it is not. */
  assertRunning(): void {
    this.runtime.assertRunning('MATERIALIZER_NOT_RUNNING', 'the materializer');
  }

  /** Reads the registry to its end, starts consuming its online views, and watches for changes. */
  async start(): Promise<void> {
    await this.runtime.start();
    this.runtime.every(this.settings.wipeCheckIntervalMs, () => this.checkForWipe());
  }

  stop(): Promise<void> {
    return this.runtime.stop();
  }

  /** Per consumed partition: the end offset of its topic minus the stored checkpoint. */
  async lag(): Promise<Array<{ topic: string; partition: number; lag: number }>> {
    return (await this.runtime.lag()).map(({ topic, partition, lag }) => ({ topic, partition, lag }));
  }

  // ---- the projection -----------------------------------------------------------------------

  groupId(): string {
    return this.settings.groupId;
  }

  /** One stream: the registry's online views whose topics exist, reusing unchanged projections. */
  async streams(state: RegistryState | undefined): Promise<Array<StreamSpec<OnlineViews>>> {
    const all = ViewProjection.forRegistry(
      state ?? this.options.follower.state,
      this.options.project,
      (view, entities, source) => this.projectionFor(view, entities, source),
      (view, error) => this.runtime.logger.warn(`view "${view}" is not materialized: ${describe(error)}`),
    );
    const views: OnlineViews = new Map();
    for (const [topic, projection] of all) {
      if (await this.topicExists(topic)) views.set(topic, projection);
      else this.runtime.logger.warn(`view "${projection.view.name}" waits for its topic ${topic} to exist`);
    }
    this.views = views;
    return [{ key: STREAM, topics: [...views.keys()], fingerprint: STREAM, unit: views }];
  }

  async open(spec: StreamSpec<OnlineViews>, context: StreamContext): Promise<StreamRun<OnlineViews>> {
    let afterWipe = this.rebuildingAfterWipe;
    this.rebuildingAfterWipe = false;
    const { store } = this.options;
    const layout = await store.checkLayout();
    if (!layout.current) {
      // Data of an older featurelog: never read (serving answers ONLINE_STORE_REBUILDING, 503, until
      // the mark is set), and rebuilt from the log like a wiped store.
      context.logger.warn(
        `the online store is not in layout ${ONLINE_LAYOUT}: found ${layout.found}; wiping it (rows and ` +
          `checkpoints of every project it holds) and rebuilding ${this.options.project} from the start of the log`,
      );
      this.options.metrics?.rebuilds.inc({ reason: 'layout-changed' });
      await store.rebuildLayout();
      afterWipe = true;
    }
    const run = new OnlineRun(this.options, this.settings, context, spec.unit);
    await run.restoreCheckpoint(afterWipe, this.options.follower.state);
    return run;
  }

  private projectionFor(
    view: FeatureViewDefinition,
    entities: EntityDefinition[],
    source: KafkaDataSource | undefined,
  ): ViewProjection {
    const made = new ViewProjection(
      view,
      entities,
      source,
      this.options.project,
      this.decoder,
      this.options.schemas,
      this.settings.retentionTtlMultiple,
    );
    // An unchanged definition keeps its projection, and with it the writer schemas already fetched.
    const current = this.views.get(made.topic);
    return current !== undefined && current.sameAs(made) ? current : made;
  }

  private async topicExists(topic: string): Promise<boolean> {
    if (this.existingTopics.has(topic)) return true;
    try {
      await this.options.log.partitionCount(topic);
    } catch (error) {
      if (error instanceof FeaturelogError && error.code === 'LOG_TOPIC_NOT_FOUND') return false;
      throw error;
    }
    this.existingTopics.add(topic);
    return true;
  }

  private async checkForWipe(): Promise<void> {
    const run = this.runtime.run(STREAM) as OnlineRun | undefined;
    if (run === undefined) return;
    const stored = await this.options.store.readCheckpoint(this.settings.checkpointName);
    if (stored.some((entry) => entry.topic === CHECKPOINT_MARKER_TOPIC)) {
      run.observeStored(stored);
      return;
    }
    this.options.metrics?.rebuilds.inc({ reason: 'checkpoint-vanished' });
    this.rebuildingAfterWipe = true;
    await run.context.restart(
      `checkpoint ${this.settings.checkpointName} vanished: the online store was wiped; rebuilding`,
    );
  }
}
