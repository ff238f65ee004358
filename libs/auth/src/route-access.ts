import 'reflect-metadata';
import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { FeaturelogError } from '@featurelog/domain';
import {
  API_KEY_SCOPES,
  keyRequired,
  missingScope,
  type ApiKeyScope,
  type ApiKeyVerifier,
  type Caller,
  type RequestHeaders,
} from './api-key-verifier';

/**
 * Who may call a route: a key holding one scope, or anyone (`public`: only `/health`, which then says
 * no more than ok / not ok unless the caller may `read`). A route that declares nothing is refused to
 * every key while keys are configured (deny by default), so a route added later cannot be open by
 * omission.
 */
export type RouteAccess = ApiKeyScope | 'public';

/** The member of a Fastify route's `config` that holds its RouteAccess. */
export const ROUTE_ACCESS = 'featurelogAccess';

/** Nest's @RouteConfig metadata key (@nestjs/platform-fastify copies it into the route's `config`). */
const FASTIFY_ROUTE_CONFIG_METADATA = '__fastify_route_config__';

/** The route `config` of a plain Fastify route: `fastify.get(url, { config: routeAccess('read') }, handler)`. */
export function routeAccess(access: RouteAccess): { [ROUTE_ACCESS]: RouteAccess } {
  return { [ROUTE_ACCESS]: access };
}

/**
 * Declares the access of a Nest route (on a handler) or of every route of a controller (on the class;
 * a handler's own declaration wins). It lands in the Fastify route's `config`, where guardRoutes reads it.
 */
export function RequireScope(access: RouteAccess): ClassDecorator & MethodDecorator {
  const declare = (handler: object, overwrite: boolean) => {
    const config = (Reflect.getMetadata(FASTIFY_ROUTE_CONFIG_METADATA, handler) ?? {}) as Record<string, unknown>;
    if (!overwrite && config[ROUTE_ACCESS] !== undefined) return;
    Reflect.defineMetadata(FASTIFY_ROUTE_CONFIG_METADATA, { ...config, [ROUTE_ACCESS]: access }, handler);
  };
  return ((target: object, _key?: string | symbol, descriptor?: PropertyDescriptor) => {
    if (descriptor !== undefined) {
      declare(descriptor.value as object, true);
      return descriptor;
    }
    const prototype = (target as { prototype: Record<string, unknown> }).prototype;
    for (const name of Object.getOwnPropertyNames(prototype)) {
      const member = Object.getOwnPropertyDescriptor(prototype, name)?.value;
      if (name !== 'constructor' && typeof member === 'function') declare(member, false);
    }
    return undefined;
  }) as ClassDecorator & MethodDecorator;
}

/** What the guard established about a request's caller. */
export interface RequestAccess {
  /** False when no keys are configured: everything is allowed. */
  keysRequired: boolean;
  /** The key's holder; absent for a request without a key (only possible on public routes, or with keys off). */
  caller?: Caller;
  scopes: ReadonlySet<ApiKeyScope>;
}

const ALL_SCOPES: ReadonlySet<ApiKeyScope> = new Set(API_KEY_SCOPES);
const NO_SCOPES: ReadonlySet<ApiKeyScope> = new Set();
const accessByRequest = new WeakMap<object, RequestAccess>();

/** What the guard found for this (Fastify) request; undefined on an app without guardRoutes. */
export function accessOf(request: object): RequestAccess | undefined {
  return accessByRequest.get(request);
}

/**
 * Whether the request's caller holds `scope`, for a route that shows more to some callers (health
 * details). An app without the guard has no keys, so everything is allowed there.
 */
export function mayUse(request: object, scope: ApiKeyScope): boolean {
  return accessOf(request)?.scopes.has(scope) ?? true;
}

/** The caller of a guarded Nest route: `@AuthorizedCaller() caller: Caller | undefined`. */
export const AuthorizedCaller = createParamDecorator(
  (_data: unknown, context: ExecutionContext): Caller | undefined =>
    accessOf(context.switchToHttp().getRequest<object>())?.caller,
);

/** The slice of Fastify the guard uses (apps may carry their own copy of Fastify's types). */
export interface GuardedRequest {
  method: string;
  headers: RequestHeaders;
  is404: boolean;
  routeOptions: { url?: string; config?: unknown };
}
export interface GuardReply {
  code(status: number): { send(body?: unknown): unknown };
  header(name: string, value: string): unknown;
}

/** What a browser may send to a featurelog app across origins: its reads and actions, with a key. */
const CORS_ALLOWED_METHODS = 'GET, POST, DELETE';
const CORS_ALLOWED_HEADERS = 'authorization, content-type, x-api-key';
/** How long a browser may reuse a preflight answer (seconds). */
const CORS_MAX_AGE_S = '600';
export interface GuardHost {
  addHook(name: 'onRequest', hook: (request: GuardedRequest, reply: GuardReply) => Promise<unknown>): unknown;
  addHook(
    name: 'onRoute',
    hook: (route: { method: string | string[]; url: string; config?: unknown }) => void,
  ): unknown;
}

/**
 * Declares the access of every route registered from now on under `prefix` that declares none
 * itself: for routes a plugin registers (e.g. @fastify/swagger-ui's /docs/*). Call it before
 * registering the plugin.
 */
export function declareAccessUnder(fastify: Pick<GuardHost, 'addHook'>, prefix: string, access: RouteAccess): void {
  fastify.addHook('onRoute', (route) => {
    if (route.url !== prefix && !route.url.startsWith(`${prefix}/`)) return;
    if (declaredAccess(route.config) !== undefined) return;
    route.config = { ...(route.config as object | undefined), [ROUTE_ACCESS]: access };
  });
}

/**
 * Puts every route of a Fastify instance behind the API keys: call it on the instance before any
 * route is registered (for a Nest app, on `new FastifyAdapter().getInstance()` before NestFactory.create).
 * Each request is checked before its body is read against the access its route declares (RequireScope,
 * routeAccess); a route that declares none is refused to every key (403) while keys are configured.
 * Refusals leave as `{ statusCode, code, message, retriable: false }`; no message holds a key.
 * Unknown paths are left to the 404 handler: they name nothing and serve nothing.
 */
export function guardRoutes(fastify: GuardHost, verifier: ApiKeyVerifier): void {
  // First, so a refusal below still carries the header and the UI can tell a 401 from a network error.
  fastify.addHook('onRequest', async (request, reply) => {
    const origin = request.headers.origin;
    if (typeof origin !== 'string' || !verifier.allowsOrigin(origin)) return undefined;
    reply.header('access-control-allow-origin', origin);
    reply.header('vary', 'Origin');
    // A preflight carries no key by design: it is answered here, before the key check.
    if (request.method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined) {
      reply.header('access-control-allow-methods', CORS_ALLOWED_METHODS);
      reply.header('access-control-allow-headers', CORS_ALLOWED_HEADERS);
      reply.header('access-control-max-age', CORS_MAX_AGE_S);
      return reply.code(204).send();
    }
    return undefined;
  });
  fastify.addHook('onRequest', async (request, reply) => {
    if (!verifier.enabled) {
      accessByRequest.set(request, { keysRequired: false, scopes: ALL_SCOPES });
      return;
    }
    if (request.is404) return;
    try {
      const access = declaredAccess(request.routeOptions.config);
      const holder = verifier.identify(request.headers);
      if (access !== 'public') {
        if (holder === undefined) throw keyRequired();
        if (access === undefined) {
          throw new FeaturelogError(
            'FORBIDDEN',
            `${request.method} ${request.routeOptions.url ?? ''} declares no access scope, so it is refused to every key`,
          );
        }
        if (!holder.scopes.has(access)) throw missingScope(holder, access);
      }
      accessByRequest.set(request, {
        keysRequired: true,
        ...(holder ? { caller: { name: holder.name } } : {}),
        scopes: holder?.scopes ?? NO_SCOPES,
      });
    } catch (error) {
      if (!(error instanceof FeaturelogError)) throw error;
      const statusCode = error.code === 'UNAUTHENTICATED' ? 401 : 403;
      return reply.code(statusCode).send({ statusCode, code: error.code, message: error.message, retriable: false });
    }
    return undefined;
  });
}

function declaredAccess(config: unknown): RouteAccess | undefined {
  const access = (config as Record<string, unknown> | undefined)?.[ROUTE_ACCESS];
  return access === 'public' || (API_KEY_SCOPES as readonly unknown[]).includes(access)
    ? (access as RouteAccess)
    : undefined;
}

/**
 * The Fastify adapter of a Nest app whose every route is behind the API keys (guardRoutes on its
 * instance before Nest registers any route). Every app is created on one of these.
 */
export function guardedFastifyAdapter(
  verifier: ApiKeyVerifier,
  options?: { bodyLimit?: number; forceCloseConnections?: boolean },
): FastifyAdapter {
  const adapter = new FastifyAdapter(options);
  guardRoutes(adapter.getInstance() as unknown as GuardHost, verifier);
  return adapter;
}
