import { Controller, Get, Header, Inject, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type { Registry } from 'prom-client';
import { type HealthCheck, runHealthChecks } from './health';

export const METRICS_REGISTRY = Symbol('METRICS_REGISTRY');
export const HEALTH_CHECKS = Symbol('HEALTH_CHECKS');

/** `/health` (200 when every dependency answers, 503 naming the ones that do not) and `/metrics`. */
@Controller()
export class ObservabilityController {
  constructor(
    @Inject(METRICS_REGISTRY) private readonly metrics: Registry,
    @Inject(HEALTH_CHECKS) private readonly checks: HealthCheck[],
  ) {}

  @Get('health')
  async health(@Res() reply: FastifyReply): Promise<void> {
    const report = await runHealthChecks(this.checks);
    await reply.status(report.status === 'ok' ? 200 : 503).send(report);
  }

  @Get('metrics')
  @Header('content-type', 'text/plain; version=0.0.4; charset=utf-8')
  async scrape(): Promise<string> {
    return this.metrics.metrics();
  }
}
