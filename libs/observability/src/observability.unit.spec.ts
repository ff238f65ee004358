import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { APP_FILTER, NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Counter, Gauge } from 'prom-client';
import { FeaturelogError } from '@featurelog/domain';
import {
  createMetricsRegistry,
  FeaturelogExceptionFilter,
  ObservabilityModule,
  runHealthChecks,
  ShutdownHookModule,
} from '@featurelog/observability';

describe('health checks', () => {
  it('report every check and fail as a whole when one fails or hangs', async () => {
    const report = await runHealthChecks(
      [
        { name: 'redis', check: async () => undefined },
        { name: 'log', check: () => Promise.reject(new Error('broker 127.0.0.1:9092 refused')) },
        { name: 'registry', check: () => new Promise(() => undefined) },
      ],
      50,
    );
    assert.equal(report.status, 'unavailable');
    assert.equal(report.checks.redis?.status, 'ok');
    assert.equal(report.checks.log?.error, 'broker 127.0.0.1:9092 refused');
    assert.equal(report.checks.registry?.error, 'no answer within 50 ms');
  });
});

describe('ObservabilityModule over HTTP', () => {
  let app: NestFastifyApplication;
  let healthy = true;
  const metrics = createMetricsRegistry('test');
  const requests = new Counter({ name: 'test_requests_total', help: 'requests', registers: [metrics] });

  before(async () => {
    @Module({
      imports: [
        ObservabilityModule.forRoot({
          metrics,
          checks: {
            useFactory: () => [
              {
                name: 'store',
                check: async () => {
                  if (!healthy) throw new Error('store down');
                },
              },
            ],
          },
        }),
      ],
    })
    class AppModule {}
    app = await NestFactory.create<NestFastifyApplication>(AppModule, new FastifyAdapter(), { logger: false });
    await app.listen(0, '127.0.0.1');
  });
  after(() => app.close());

  it('serves /health as 200, then 503 naming the failed dependency', async () => {
    const url = `${await app.getUrl()}/health`;
    const ok = await fetch(url);
    assert.equal(ok.status, 200);
    healthy = false;
    const down = await fetch(url);
    assert.equal(down.status, 503);
    const body = (await down.json()) as { checks: Record<string, { error?: string }> };
    assert.equal(body.checks.store?.error, 'store down');
  });

  it('serves Prometheus text at /metrics with the app label', async () => {
    requests.inc(3);
    const response = await fetch(`${await app.getUrl()}/metrics`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await response.text();
    assert.match(text, /test_requests_total\{app="test"\} 3/);
    assert.match(text, /featurelog_process_cpu_user_seconds_total/);
  });
});

describe('an error on a text route', () => {
  it('leaves as its JSON error body, not as a 500 for sending an object as text', async () => {
    const metrics = createMetricsRegistry('test');
    new Gauge({
      name: 'test_broken',
      help: 'a collector whose source is down',
      registers: [metrics],
      collect() {
        throw new FeaturelogError('SOURCE_DOWN', 'the source does not answer', { retriable: true });
      },
    });
    @Module({
      imports: [ObservabilityModule.forRoot({ metrics, checks: { useFactory: () => [] } })],
      providers: [{ provide: APP_FILTER, useClass: FeaturelogExceptionFilter }],
    })
    class AppModule {}
    const app = await NestFactory.create<NestFastifyApplication>(AppModule, new FastifyAdapter(), { logger: false });
    await app.listen(0, '127.0.0.1');
    try {
      const response = await fetch(`${await app.getUrl()}/metrics`);
      assert.equal(response.status, 503);
      assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
      assert.equal(((await response.json()) as { code: string }).code, 'SOURCE_DOWN');
    } finally {
      await app.close();
    }
  });
});

describe('ShutdownHookModule', () => {
  it('runs its step when the app closes, after the server stopped', async () => {
    const steps: string[] = [];
    @Module({
      imports: [
        ShutdownHookModule.onShutdown(async () => {
          steps.push('released ports');
        }),
      ],
    })
    class AppModule {}
    const app = await NestFactory.create<NestFastifyApplication>(AppModule, new FastifyAdapter(), { logger: false });
    await app.listen(0, '127.0.0.1');
    const url = await app.getUrl();
    await app.close();
    assert.deepEqual(steps, ['released ports']);
    await assert.rejects(fetch(`${url}/health`), 'the server is closed before the step runs');
  });
});
