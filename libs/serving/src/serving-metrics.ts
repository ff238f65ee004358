import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { StatusCounts } from './online-retrieval';

/** Request latency buckets in seconds: the targets are single-digit milliseconds. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** What serving reports at /metrics, besides the runtime's defaults. */
export class ServingMetrics {
  readonly requestSeconds: Histogram<'endpoint'>;
  readonly requests: Counter<'endpoint' | 'status'>;
  readonly featureValues: Counter<'status'>;
  readonly subscribers: Gauge;
  readonly resyncs: Counter;

  constructor(registry: Registry) {
    this.requestSeconds = new Histogram({
      name: 'featurelog_serving_request_duration_seconds',
      help: 'Time from request received to response sent, per endpoint (route pattern).',
      labelNames: ['endpoint'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    });
    this.requests = new Counter({
      name: 'featurelog_serving_requests_total',
      help: 'Responses per endpoint and HTTP status.',
      labelNames: ['endpoint', 'status'],
      registers: [registry],
    });
    this.featureValues = new Counter({
      name: 'featurelog_serving_feature_values_total',
      help: 'Feature values served, per status (PRESENT, NULL_VALUE, OUTSIDE_MAX_AGE, NOT_FOUND).',
      labelNames: ['status'],
      registers: [registry],
    });
    this.subscribers = new Gauge({
      name: 'featurelog_serving_subscribers',
      help: 'Open /subscribe streams.',
      registers: [registry],
    });
    this.resyncs = new Counter({
      name: 'featurelog_serving_subscription_resyncs_total',
      help: 'Subscribers that fell behind and were sent resync and a fresh snapshot.',
      registers: [registry],
    });
  }

  /** Called once per response, from the HTTP server's onResponse hook. */
  observe(endpoint: string, status: number, milliseconds: number): void {
    this.requestSeconds.observe({ endpoint }, milliseconds / 1_000);
    this.requests.inc({ endpoint, status: String(status) });
  }

  countStatuses(counts: StatusCounts): void {
    if (counts.PRESENT > 0) this.featureValues.inc({ status: 'PRESENT' }, counts.PRESENT);
    if (counts.NULL_VALUE > 0) this.featureValues.inc({ status: 'NULL_VALUE' }, counts.NULL_VALUE);
    if (counts.OUTSIDE_MAX_AGE > 0) this.featureValues.inc({ status: 'OUTSIDE_MAX_AGE' }, counts.OUTSIDE_MAX_AGE);
    if (counts.NOT_FOUND > 0) this.featureValues.inc({ status: 'NOT_FOUND' }, counts.NOT_FOUND);
  }
}
