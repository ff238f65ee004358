import {
  type ArgumentsHost,
  Body,
  Catch,
  Controller,
  type ExceptionFilter,
  Headers,
  HttpCode,
  Inject,
  Post,
  UseFilters,
} from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { RequireScope } from '@featurelog/auth';
import { FeaturelogError } from '@featurelog/domain';
import { httpStatusOf } from '@featurelog/observability';
import {
  bytesFromBase64,
  InvalidRowsError,
  parsePushRequest,
  PUSH_TO_HEADER,
  type FeatureProducer,
  type InputRow,
  type PushDestination,
  type RowProblemAt,
  type ViewTarget,
} from '@featurelog/producer';

/** Injection token of the push options (PushModule.forRoot). */
export const PUSH_OPTIONS = Symbol('featurelog:PushOptions');

export type RequestHeaders = Record<string, string | string[] | undefined>;

export interface PushOptions {
  producer: FeatureProducer;
  /**
   * Called with the request headers before anything else; throw to refuse (a FeaturelogError
   * UNAUTHENTICATED → 401, FORBIDDEN → 403). An app on a guarded adapter (guardedFastifyAdapter of
   * @featurelog/auth) needs none: the route declares the `push` scope. Absent: no check of its own.
   */
  authorize?: (headers: RequestHeaders) => void | Promise<void>;
  /** Most rows in one push; more is 413 (a push is one request: large loads belong to ingest). */
  maxRows?: number;
}

export interface PushResponse {
  to: PushDestination;
  produced: number;
  views: Array<{ view: string; topic: string; produced: number }>;
}

/**
 * Errors of a push as `{ statusCode, code, message, retriable, problems? }`: invalid row values are
 * 422 with every problem (row index and field); other featurelog errors keep the usual statuses
 * (malformed body 400, unknown view 404, too many rows 413, log unavailable 503).
 */
@Catch(FeaturelogError)
export class PushExceptionFilter implements ExceptionFilter {
  catch(error: FeaturelogError, host: ArgumentsHost): void {
    const statusCode = error instanceof InvalidRowsError ? 422 : httpStatusOf(error);
    const body: Record<string, unknown> = {
      statusCode,
      code: error.code,
      message: error.message,
      retriable: error.retriable,
    };
    if (error instanceof InvalidRowsError) body.problems = error.problems;
    void host.switchToHttp().getResponse<FastifyReply>().status(statusCode).send(body);
  }
}

/**
 * `POST /push` (Feast's push API): rows for a view, validated against its definition and produced to
 * its topic through the log — never written to the online store directly; the materializer and the
 * compactor pick them up like any other row. All or nothing: if any row is invalid for any target
 * view, nothing is produced.
 */
@Controller()
@UseFilters(PushExceptionFilter)
export class PushController {
  private readonly maxRows: number;

  constructor(@Inject(PUSH_OPTIONS) private readonly options: PushOptions) {
    this.maxRows = options.maxRows ?? 10_000;
  }

  @Post('push')
  @HttpCode(200)
  @RequireScope('push')
  async push(@Body() body: unknown, @Headers() headers: RequestHeaders): Promise<PushResponse> {
    await this.options.authorize?.(headers);
    const { producer } = this.options;
    const request = parsePushRequest(body, producer.definitions, this.maxRows);
    const describeRow = (row: number) => (request.shape === 'rows' ? `rows[${row}]` : `df row ${row}`);
    const targets = await Promise.all(request.views.map((view) => producer.target(view)));
    // A push source feeding several views hands each view the columns it has; one named view takes
    // its rows as they are, so a misspelt column is reported rather than dropped.
    const project = request.views.length > 1;
    const batches = targets.map((target) => {
      const rows = bytesFromBase64(target.view, project ? projectRows(target, request.rows) : request.rows);
      const problems: RowProblemAt[] = rows.flatMap((row, i) =>
        target.check(row).problems.map((problem) => ({ row: i, ...problem })),
      );
      if (problems.length > 0) {
        throw new InvalidRowsError(target.view.name, problems, { rowCount: rows.length, describeRow });
      }
      return { target, rows };
    });
    const headersOut = request.to === 'online_and_offline' ? undefined : { [PUSH_TO_HEADER]: request.to };
    const results = [];
    for (const { target, rows } of batches) {
      const result = await producer.produce(target.view.name, rows, headersOut ? { headers: headersOut } : {});
      results.push({ view: result.view, topic: result.topic, produced: result.produced });
    }
    return { to: request.to, produced: results.reduce((sum, r) => sum + r.produced, 0), views: results };
  }
}

function projectRows(target: ViewTarget, rows: readonly InputRow[]): InputRow[] {
  const fields = [
    ...target.joinKeys.map((key) => key.name),
    'event_timestamp',
    'created_timestamp',
    ...target.view.features.map((feature) => feature.name),
  ];
  return rows.map((row) => {
    const out: Record<string, unknown> = {};
    for (const field of fields) if (row[field] !== undefined) out[field] = row[field];
    return out;
  });
}
