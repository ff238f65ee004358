import { Body, Controller, Get, Inject, Param, Post, Query } from '@nestjs/common';
import { AuthorizedCaller, RequireScope, type Caller } from '@featurelog/auth';
import { FeaturelogError } from '@featurelog/domain';
import {
  parseDeadLetterFilter,
  parsePosition,
  type DeadLetterDetail,
  type DeadLetterPage,
  type DeadLetterQueue,
  type RedriveResult,
} from '@featurelog/jobs';

export const DEAD_LETTER_QUEUE = Symbol('featurelog:DeadLetterQueue');

interface RedriveBody {
  positions?: unknown;
  view?: unknown;
  reason?: unknown;
  since?: unknown;
  until?: unknown;
  status?: unknown;
  all?: unknown;
  dryRun?: unknown;
  force?: unknown;
  by?: unknown;
}

/**
 * `<project>.dlq` for operators: `GET /dlq?view=&reason=&since=&until=&status=&skip=&limit=`,
 * `GET /dlq/{topic}/{partition}/{offset}` (a DLQ position, or a source record's), and
 * `POST /dlq/redrive` (positions or a filter; `dryRun`, `force`). See DeadLetterQueue. Every route
 * needs the `admin` scope: dead letters hold raw rows of every topic, and a redrive appends to them.
 */
@Controller('dlq')
@RequireScope('admin')
export class DlqController {
  constructor(@Inject(DEAD_LETTER_QUEUE) private readonly dlq: DeadLetterQueue) {}

  @Get()
  list(@Query() query: Record<string, string | undefined>): Promise<DeadLetterPage> {
    const { skip, limit, ...fields } = query;
    return this.dlq.list(parseDeadLetterFilter(fields), {
      ...(skip === undefined ? {} : { skip: wholeNumber('skip', skip) }),
      ...(limit === undefined ? {} : { limit: wholeNumber('limit', limit) }),
    });
  }

  @Get(':topic/:partition/:offset')
  show(
    @Param('topic') topic: string,
    @Param('partition') partition: string,
    @Param('offset') offset: string,
  ): Promise<DeadLetterDetail> {
    return this.dlq.show(parsePosition(`${topic}/${partition}/${offset}`));
  }

  @Post('redrive')
  redrive(
    @Body() body: RedriveBody | undefined,
    @AuthorizedCaller() caller: Caller | undefined,
  ): Promise<RedriveResult> {
    const request = body ?? {};
    const { positions, all, dryRun, force, by, ...fields } = request;
    if (positions !== undefined && (!Array.isArray(positions) || positions.some((p) => typeof p !== 'string'))) {
      throw new FeaturelogError('DLQ_REDRIVE_INVALID', 'positions must be a list of "<topic>/<partition>/<offset>"');
    }
    for (const [name, value] of [
      ['all', all],
      ['dryRun', dryRun],
      ['force', force],
    ] as const) {
      if (value !== undefined && typeof value !== 'boolean') {
        throw new FeaturelogError('DLQ_REDRIVE_INVALID', `${name} must be true or false`);
      }
    }
    if (by !== undefined && typeof by !== 'string') throw new FeaturelogError('DLQ_REDRIVE_INVALID', 'by must be text');
    return this.dlq.redrive({
      ...(positions === undefined ? {} : { positions: (positions as string[]).map(parsePosition) }),
      filter: parseDeadLetterFilter(fields),
      all: all === true,
      dryRun: dryRun === true,
      force: force === true,
      // With keys configured the redrive is recorded under the key's name, not what the body claims.
      ...(caller !== undefined ? { by: caller.name } : by === undefined ? {} : { by: by as string }),
    });
  }
}

function wholeNumber(name: string, text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value)) {
    throw new FeaturelogError('DLQ_PAGE_INVALID', `${name} must be a whole number, got ${text}`);
  }
  return value;
}
