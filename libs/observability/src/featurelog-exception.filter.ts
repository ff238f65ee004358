import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { FeaturelogError } from '@featurelog/domain';

/** Codes whose HTTP status is not implied by the naming rules below. */
const STATUS_BY_CODE: Record<string, number> = {
  REGISTRY_VERSION_CONFLICT: 409,
  SCHEMA_INCOMPATIBLE: 409,
  JOB_NOT_CANCELLABLE: 409,
  REGISTRY_INCOMPLETE: 503,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  PAYLOAD_TOO_LARGE: 413,
  JOB_NOT_FINISHED: 409,
  JOB_CANCELLED: 409,
  NOT_ACCEPTABLE: 406,
  UNSUPPORTED_MEDIA_TYPE: 415,
};

/**
 * The HTTP status of a featurelog error: explicit codes first; then `*_NOT_FOUND` / `UNKNOWN_*` → 404;
 * retriable (a dependency is down) → 503; anything else the caller sent → 400.
 */
export function httpStatusOf(error: FeaturelogError): number {
  const explicit = STATUS_BY_CODE[error.code];
  if (explicit !== undefined) return explicit;
  if (error.code.endsWith('_NOT_FOUND') || error.code.startsWith('UNKNOWN_')) return 404;
  if (error.retriable) return 503;
  return 400;
}

/**
 * Every error leaves as `{ statusCode, code, message, retriable }`. Errors that are not featurelog's
 * or Nest's are bugs: logged with their stack and answered 500 without internals.
 */
@Catch()
export class FeaturelogExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('http');

  catch(exception: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    // A route may have declared another type (`/metrics` is text/plain) before it failed; fastify refuses to
    // send an object as text and answers 500 instead of this error.
    void reply.header('content-type', 'application/json; charset=utf-8');
    if (exception instanceof FeaturelogError) {
      const statusCode = httpStatusOf(exception);
      const body: Record<string, unknown> = {
        statusCode,
        code: exception.code,
        message: exception.message,
        retriable: exception.retriable,
      };
      const problems = (exception as { problems?: unknown }).problems;
      if (problems !== undefined) body.problems = problems;
      void reply.status(statusCode).send(body);
      return;
    }
    if (exception instanceof HttpException) {
      const statusCode = exception.getStatus();
      const response = exception.getResponse();
      const message =
        typeof response === 'string' ? response : ((response as { message?: unknown }).message ?? exception.message);
      void reply
        .status(statusCode)
        .send({ statusCode, code: `HTTP_${statusCode}`, message, retriable: statusCode >= 500 });
      return;
    }
    this.logger.error(exception instanceof Error ? (exception.stack ?? exception.message) : String(exception));
    void reply.status(500).send({ statusCode: 500, code: 'INTERNAL', message: 'internal error', retriable: true });
  }
}
