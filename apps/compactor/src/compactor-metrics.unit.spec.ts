import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { FeaturelogError } from '@featurelog/domain';
import { zeroCounters, type Compactor } from '@featurelog/compactor';
import { CompactorAppModule } from './compactor.module';

describe('compactor /metrics while unhealthy', () => {
  let app: NestFastifyApplication;
  const undecodable = new FeaturelogError(
    'SEGMENT_EVENT_UNREADABLE',
    'demo.segments@0 cannot be decoded: no schema with id 7',
    { retriable: true },
  );
  // The parts of a compactor the app module reads, in the state of the issue: its segment log cannot be read.
  const counters = { ...zeroCounters(), restarts: 43, rowsWritten: 120 };
  const compactor = {
    counters,
    segmentLog: { catchUp: () => Promise.reject(undecodable) },
    lag: () => Promise.reject(undecodable),
    status: () => [{ view: 'driver_stats', topic: 'demo.features.driver_stats', state: 'retrying', lastError: 'x' }],
    // Its projection runtime, whose lag cannot be read either.
    runtime: {
      projection: { name: 'demo.compactor' },
      status: () => [{ key: 'driver_stats', topics: ['demo.features.driver_stats'], state: 'retrying', restarts: 43 }],
      lag: () => Promise.reject(undecodable),
      observe: () => undefined,
    },
  } as unknown as Compactor;

  before(async () => {
    app = await NestFactory.create<NestFastifyApplication>(
      CompactorAppModule.forCompactor(compactor),
      new FastifyAdapter(),
      { logger: false },
    );
    await app.listen(0, '127.0.0.1');
  });
  after(() => app.close());

  it('/health is 503 and /metrics still answers 200 with the counters', async () => {
    const health = await fetch(`${await app.getUrl()}/health`);
    assert.equal(health.status, 503);
    const metrics = await fetch(`${await app.getUrl()}/metrics`);
    const text = await metrics.text();
    assert.equal(metrics.status, 200, text);
    assert.match(text, /featurelog_compactor_view_restarts_total\{app="compactor"\} 43/);
    assert.match(text, /featurelog_compactor_rows_written_total\{app="compactor"\} 120/);
    assert.match(
      text,
      /featurelog_projection_streams\{projection="demo.compactor",state="retrying",app="compactor"\} 1/,
    );
  });
});
