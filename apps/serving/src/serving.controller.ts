import { Controller, Get, Inject, Req, Res } from '@nestjs/common';
import { RouteSchema } from '@nestjs/platform-fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { RequireScope } from '@featurelog/auth';
import {
  SUBSCRIBE_SCHEMA,
  type EventSink,
  type FeatureSubscriptions,
  type OnlineFeatureRetriever,
  type ServingMetrics,
} from '@featurelog/serving';

/** Everything the serving routes use, built once by the app. */
export interface ServingRuntime {
  retriever: OnlineFeatureRetriever;
  subscriptions: FeatureSubscriptions;
  metrics: ServingMetrics;
}

export const SERVING_RUNTIME = Symbol('featurelog:ServingRuntime');

/** GET /subscribe; POST /get-online-features is a plain Fastify route (registerOnlineFeaturesRoute). */
@Controller()
export class ServingController {
  constructor(@Inject(SERVING_RUNTIME) private readonly runtime: ServingRuntime) {}

  @Get('subscribe')
  @RouteSchema(SUBSCRIBE_SCHEMA)
  @RequireScope('read')
  async subscribe(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const sink = new ReplyEventSink(reply);
    const lastEventId = request.headers['last-event-id'];
    const subscription = this.runtime.subscriptions.prepare(
      request.query as Record<string, string | string[] | undefined>,
      sink,
      typeof lastEventId === 'string' ? lastEventId : undefined,
    );
    this.runtime.metrics.subscribers.inc();
    let resyncs = 0;
    request.raw.on('close', () => {
      this.runtime.metrics.subscribers.dec();
      this.runtime.metrics.resyncs.inc(subscription.resyncs - resyncs);
      resyncs = subscription.resyncs;
      subscription.close();
    });
    try {
      await subscription.start();
    } catch (error) {
      subscription.close();
      // Nothing was written yet, so the error still gets its proper HTTP status.
      if (!sink.started) throw error;
      sink.end();
    }
  }
}

/** The raw response as an SSE stream; headers go out with the first event. */
class ReplyEventSink implements EventSink {
  started = false;

  constructor(private readonly reply: FastifyReply) {}

  write(text: string): boolean {
    const raw = this.reply.raw;
    if (!this.started) {
      this.started = true;
      this.reply.hijack();
      raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
    }
    if (raw.destroyed || raw.writableEnded) return true;
    return raw.write(text);
  }

  once(event: 'drain', listener: () => void): void {
    this.reply.raw.once(event, listener);
  }

  end(): void {
    if (this.started && !this.reply.raw.writableEnded) this.reply.raw.end();
  }
}
