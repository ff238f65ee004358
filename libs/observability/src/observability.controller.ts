import { Controller, Get, Header, Inject, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { mayUse, RequireScope } from '@featurelog/auth';
import type { Registry } from 'prom-client';
import { type HealthCheck, runHealthChecks } from './health';

export const METRICS_REGISTRY = Symbol('METRICS_REGISTRY');
export const HEALTH_CHECKS = Symbol('HEALTH_CHECKS');

/**
 * `/health` (200 when every dependency answers, 503 naming the ones that do not) and `/metrics`.
 * With API keys configured, /health answers anyone with its status alone (a probe needs no key),
 * and names the checks and their errors (hosts, topics) only to a key with `read`; /metrics needs
 * `read` too: the least a scraper can hold (`admin` would let it write the log), and it shows no
 * more than `read` already does (view names, counts).
 */
@Controller()
export class ObservabilityController {
  constructor(
    @Inject(METRICS_REGISTRY) private readonly metrics: Registry,
    @Inject(HEALTH_CHECKS) private readonly checks: HealthCheck[],
  ) {}

  @Get('health')
  @RequireScope('public')
  async health(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const report = await runHealthChecks(this.checks);
    await reply
      .status(report.status === 'ok' ? 200 : 503)
      .send(mayUse(request, 'read') ? report : { status: report.status });
  }

  @Get('metrics')
  @RequireScope('read')
  @Header('content-type', 'text/plain; version=0.0.4; charset=utf-8')
  async scrape(): Promise<string> {
    return this.metrics.metrics();
  }
}
