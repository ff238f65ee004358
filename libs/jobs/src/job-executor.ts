import type { DefinitionSource } from '@featurelog/domain';
import { HyparquetSegmentCodec } from '@featurelog/offline-store';
import type { OnlineStore } from '@featurelog/online-store';
import { backfillView, type BackfillOptions } from './backfill-view';
import { exportTrainingSet, type ExportOptions } from './export-training-set';
import type { JobExecutor } from './job-worker';
import type { HistorySources } from './view-history';

export interface JobExecutorDependencies {
  sources: HistorySources;
  /** The registry as of now: each job resolves features against the definitions current when it starts. */
  definitions: () => Promise<DefinitionSource>;
  onlineStore: () => Promise<OnlineStore>;
  exportOptions?: Omit<ExportOptions, 'onProgress' | 'signal'>;
  backfillOptions?: Omit<BackfillOptions, 'onProgress' | 'signal'>;
}

/** Runs export and backfill jobs against one project's ports; what the jobs app and `--local` share. */
export function createJobExecutor(dependencies: JobExecutorDependencies): JobExecutor {
  return async (spec, onProgress, signal) => {
    const definitions = await dependencies.definitions();
    if (spec.kind === 'export') {
      return exportTrainingSet(dependencies.sources, definitions, spec.request, {
        ...dependencies.exportOptions,
        onProgress,
        ...(signal === undefined ? {} : { signal }),
      });
    }
    return backfillView(dependencies.sources, definitions, await dependencies.onlineStore(), spec.request, {
      ...dependencies.backfillOptions,
      onProgress,
      ...(signal === undefined ? {} : { signal }),
    });
  };
}

/** A registry held in memory by folding its log (RegistryFollower satisfies it). */
export interface FoldedRegistry {
  catchUp(): Promise<void>;
  assertComplete(): void;
  readonly state: DefinitionSource;
}

/** A project's ports as ProjectRuntime opens them. */
export interface ProjectJobPorts {
  project: string;
  offlineRoot: string;
  log: HistorySources['log'];
  schemas: HistorySources['schemas'];
  onlineStore(): Promise<OnlineStore>;
}

/**
 * The executor of a project's jobs over its ports, on the local Parquet segments, resolving each job
 * against the registry as the log holds it when the job starts: the jobs app and `--local` both run this.
 */
export function projectJobExecutor(
  ports: ProjectJobPorts,
  registry: FoldedRegistry,
  options: Pick<JobExecutorDependencies, 'exportOptions' | 'backfillOptions'> = {},
): JobExecutor {
  return createJobExecutor({
    sources: {
      log: ports.log,
      schemas: ports.schemas,
      codec: new HyparquetSegmentCodec(),
      offlineRoot: ports.offlineRoot,
      project: ports.project,
    },
    definitions: async () => {
      await registry.catchUp();
      registry.assertComplete();
      return registry.state;
    },
    onlineStore: () => ports.onlineStore(),
    ...options,
  });
}
