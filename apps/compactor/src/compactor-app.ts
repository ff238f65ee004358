import 'reflect-metadata';
import { Compactor, type CompactorOptions } from '@featurelog/compactor';
import { scopedLogger } from '@featurelog/domain';
import { featurelogApp, type AppSettings } from '@featurelog/runtime';
import { CompactorAppModule } from './compactor.module';

export const DEFAULT_COMPACTOR_PORT = 6572;

/** Compactor tunables that are not wiring (see COMPACTOR_DEFAULTS for each default). */
export type CompactorTuning = Omit<
  CompactorOptions,
  'project' | 'log' | 'schemas' | 'follower' | 'offlineRoot' | 'segmentsTopicSpec' | 'dlqTopicSpec' | 'logger'
>;

export interface CompactorAppSettings extends AppSettings {
  tuning?: CompactorTuning;
}

/**
 * The compactor app: follows the registry, compacts every offline view's topic into Parquet segments
 * under the configured offline root, and serves /health and /metrics. Closing it flushes what is
 * buffered before the HTTP server stops.
 */
export const compactorApp = featurelogApp<CompactorAppSettings>({
  name: 'compactor',
  defaultPort: DEFAULT_COMPACTOR_PORT,
  async start({ runtime, config, settings, logger, nest }) {
    const { follower } = runtime.registry();
    let compactor: Compactor | undefined;
    try {
      await follower.start(`featurelog-compactor.${config.project}.registry.${process.pid}.${Date.now()}`);
      compactor = await Compactor.start({
        ...settings.tuning,
        project: config.project,
        log: runtime.log,
        schemas: runtime.schemas,
        follower,
        offlineRoot: config.offlineStore.path,
        segmentsTopicSpec: runtime.topics.project.find((spec) => spec.name === `${config.project}.segments`),
        dlqTopicSpec: runtime.topics.project.find((spec) => spec.name === `${config.project}.dlq`),
        logger: scopedLogger(logger, 'compactor'),
      });
      const running = compactor;
      return {
        app: await nest(CompactorAppModule.forCompactor(running)),
        stopWork: () => running.stop({ flush: true }),
        release: () => follower.stop(),
      };
    } catch (error) {
      await compactor?.stop({ flush: false });
      await follower.stop();
      throw error;
    }
  },
});

/** Tuning from FEATURELOG_COMPACTOR_* variables; unset ones keep their defaults. */
export function tuningFromEnv(env: NodeJS.ProcessEnv = process.env): CompactorTuning {
  const number = (name: string): number | undefined => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return undefined;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < 0) {
      throw new Error(`${name}=${JSON.stringify(raw)} is not a non-negative number`);
    }
    return value;
  };
  const entries = {
    maxRows: number('FEATURELOG_COMPACTOR_MAX_ROWS'),
    maxAgeMs: number('FEATURELOG_COMPACTOR_MAX_AGE_MS'),
    mergeIntervalMs: number('FEATURELOG_COMPACTOR_MERGE_INTERVAL_MS'),
    gcIntervalMs: number('FEATURELOG_COMPACTOR_GC_INTERVAL_MS'),
    orphanGraceMs: number('FEATURELOG_COMPACTOR_ORPHAN_GRACE_MS'),
    replacedGraceMs: number('FEATURELOG_COMPACTOR_REPLACED_GRACE_MS'),
  };
  return Object.fromEntries(Object.entries(entries).filter(([, value]) => value !== undefined));
}
