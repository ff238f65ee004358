import { routeAccess, type RequestHeaders } from '@featurelog/auth';
import { ARROW_STREAM_MEDIA_TYPE, GET_ONLINE_FEATURES_SCHEMA } from '@featurelog/serving';
import type { ServingRuntime } from './serving.controller';

/** The path of the hot route, as /metrics and /docs name it. */
export const GET_ONLINE_FEATURES_PATH = '/get-online-features';

interface HeaderSetter {
  header(name: string, value: string): HeaderSetter;
}

/** The slice of a Fastify instance the route needs (Nest's adapter brings its own copy of Fastify's types). */
export interface RouteRegistrar {
  route(options: {
    method: 'POST';
    url: string;
    schema: Record<string, unknown>;
    config: Record<string, unknown>;
    handler: (request: { headers: RequestHeaders; body: unknown }, reply: HeaderSetter) => Promise<Buffer>;
  }): unknown;
}

/**
 * POST /get-online-features as a plain Fastify route on the Nest app's Fastify instance: Nest's
 * router (execution context, pipes, param factories, its reply wrapper) cost more per request than
 * the retrieval of one entity. Everything else stays the app's: errors thrown here reach the Fastify
 * error handler Nest installs, so they leave through the app's global exception filter in the same
 * shape as every other route; the app's onResponse hook counts them in /metrics; @fastify/swagger
 * documents the route from its schema, so register it after swagger and before `app.init()`.
 */
export function registerOnlineFeaturesRoute(fastify: RouteRegistrar, runtime: ServingRuntime): void {
  const { retriever, metrics } = runtime;
  fastify.route({
    method: 'POST',
    url: GET_ONLINE_FEATURES_PATH,
    schema: GET_ONLINE_FEATURES_SCHEMA,
    // Checked by the app's route guard before the body is even read.
    config: routeAccess('read'),
    handler: async (request, reply) => {
      const accept = request.headers.accept;
      // JSON unless Arrow is asked for by name: one header read on the JSON path, nothing more.
      const arrow = typeof accept === 'string' && accept.includes(ARROW_STREAM_MEDIA_TYPE);
      if (arrow) {
        const answer = await retriever.retrieveArrow(request.body);
        metrics.countStatuses(answer.statuses);
        reply
          .header('content-type', ARROW_STREAM_MEDIA_TYPE)
          .header('x-featurelog-registry-version', String(answer.registryVersion));
        return answer.body;
      }
      const result = await retriever.retrieve(request.body);
      metrics.countStatuses(result.statuses);
      // A Buffer is sent as is: the JSON was written by the shaper.
      reply
        .header('content-type', 'application/json; charset=utf-8')
        .header('x-featurelog-registry-version', String(result.registryVersion));
      return result.body;
    },
  });
}
