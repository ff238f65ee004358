import type { DefinitionSource } from '@featurelog/domain';
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
  exportOptions?: Omit<ExportOptions, 'onProgress'>;
  backfillOptions?: Omit<BackfillOptions, 'onProgress'>;
}

/** Runs export and backfill jobs against one project's ports; what the jobs app and `--local` share. */
export function createJobExecutor(dependencies: JobExecutorDependencies): JobExecutor {
  return async (spec, onProgress) => {
    const definitions = await dependencies.definitions();
    if (spec.kind === 'export') {
      return exportTrainingSet(dependencies.sources, definitions, spec.request, {
        ...dependencies.exportOptions,
        onProgress,
      });
    }
    return backfillView(dependencies.sources, definitions, await dependencies.onlineStore(), spec.request, {
      ...dependencies.backfillOptions,
      onProgress,
    });
  };
}
