import { Registry, collectDefaultMetrics } from 'prom-client';

/**
 * A Prometheus registry per process, with the Node runtime's default metrics and an `app`
 * label, so several featurelog processes can be scraped into one dashboard.
 */
export function createMetricsRegistry(app: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ app });
  collectDefaultMetrics({ register: registry, prefix: 'featurelog_' });
  return registry;
}
