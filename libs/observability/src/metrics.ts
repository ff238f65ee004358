import { Registry, collectDefaultMetrics } from 'prom-client';
import { registerGcPauseMetrics } from './gc-pauses';

/**
 * A Prometheus registry per process, with the Node runtime's default metrics (GC pauses per kind
 * among them), the longest GC pause between scrapes, and an `app` label, so several featurelog
 * processes can be scraped into one dashboard.
 */
export function createMetricsRegistry(app: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ app });
  collectDefaultMetrics({ register: registry, prefix: 'featurelog_' });
  registerGcPauseMetrics(registry);
  return registry;
}
