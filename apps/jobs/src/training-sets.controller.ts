import { createReadStream } from 'node:fs';
import { Controller, Get, Headers, HttpCode, Inject, Param, Post, Query, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AuthorizedCaller, RequireScope, type Caller } from '@featurelog/auth';
import { FeaturelogError } from '@featurelog/domain';
import {
  ARROW_FILE_MEDIA_TYPE,
  ARROW_STREAM_MEDIA_TYPE,
  PARQUET_MEDIA_TYPE,
  parseTrainingSetQuery,
  type SubmittedTrainingSet,
  type TrainingSets,
  type TrainingSetState,
} from '@featurelog/jobs';

export const TRAINING_SETS = Symbol('featurelog:TrainingSets');

/** The media types whose body reaches POST /training-sets as a stream (see registerTrainingSetBodies). */
export const BINARY_ENTITY_TYPES = [ARROW_STREAM_MEDIA_TYPE, ARROW_FILE_MEDIA_TYPE, PARQUET_MEDIA_TYPE];

const ACCEPTED = `${ARROW_STREAM_MEDIA_TYPE} (or ${ARROW_FILE_MEDIA_TYPE}), ${PARQUET_MEDIA_TYPE} or application/json`;

/**
 * Training sets over HTTP (see TrainingSets): POST the entity rows (Arrow IPC, Parquet, or JSON for small
 * requests), follow the job at GET /training-sets/:id (cancel it at POST /jobs/:id/cancel), then GET
 * /training-sets/:id/result as an Arrow IPC stream or the Parquet file. Every route needs the `jobs` scope.
 */
@Controller('training-sets')
@RequireScope('jobs')
export class TrainingSetsController {
  constructor(@Inject(TRAINING_SETS) private readonly sets: TrainingSets) {}

  @Post()
  @HttpCode(202)
  submit(
    @Req() request: FastifyRequest,
    @Query() query: Record<string, string | string[] | undefined>,
    @AuthorizedCaller() caller: Caller | undefined,
  ): Promise<SubmittedTrainingSet> {
    const type = mediaType(request.headers['content-type']);
    const requestedBy = caller?.name;
    if (type === 'application/json') {
      if (Object.keys(query).length > 0) {
        throw new FeaturelogError(
          'INVALID_TRAINING_SET_REQUEST',
          `with a JSON body the options go in the body, not the query (got ${Object.keys(query).join(', ')})`,
        );
      }
      return this.sets.submitJson(request.body, requestedBy);
    }
    if (type === undefined || !BINARY_ENTITY_TYPES.includes(type)) {
      throw new FeaturelogError(
        'UNSUPPORTED_MEDIA_TYPE',
        type === undefined
          ? `no Content-Type: the body must be the entity rows as ${ACCEPTED}`
          : `Content-Type ${type} is not accepted: send the entity rows as ${ACCEPTED}`,
      );
    }
    const body = request.body as AsyncIterable<Uint8Array> | undefined;
    return this.sets.submitUpload(
      body,
      type === PARQUET_MEDIA_TYPE ? 'parquet' : 'arrow',
      parseTrainingSetQuery(query),
      requestedBy,
    );
  }

  @Get(':id')
  get(@Param('id') id: string): TrainingSetState {
    return this.sets.state(id);
  }

  /**
   * The result, streamed: Arrow IPC record batches (one per row group) by default or for `Accept:
   * application/vnd.apache.arrow.stream`, the Parquet file for `Accept: application/vnd.apache.parquet`
   * (or `?format=arrow|parquet`). `X-Featurelog-Rows` says how many rows the whole answer holds.
   */
  @Get(':id/result')
  async result(
    @Param('id') id: string,
    @Headers('accept') accept: string | undefined,
    @Query('format') format: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const wanted = resultFormat(accept, format);
    const { path, rows, bytes } = await this.sets.resultFile(id);
    void reply.header('x-featurelog-rows', String(rows));
    if (wanted === 'parquet') {
      await reply
        .header('content-type', PARQUET_MEDIA_TYPE)
        .header('content-length', String(bytes))
        .send(createReadStream(path));
      return;
    }
    await reply.header('content-type', ARROW_STREAM_MEDIA_TYPE).send(this.sets.arrowStream(path));
  }
}

function mediaType(header: string | undefined): string | undefined {
  const type = header?.split(';')[0]?.trim().toLowerCase();
  return type === '' ? undefined : type;
}

/** `?format=` first, then the Accept header's first acceptable type; Arrow when either says anything goes. */
function resultFormat(accept: string | undefined, format: string | undefined): 'arrow' | 'parquet' {
  if (format !== undefined) {
    if (format === 'arrow' || format === 'parquet') return format;
    throw new FeaturelogError(
      'INVALID_TRAINING_SET_REQUEST',
      `format must be arrow or parquet, got ${JSON.stringify(format)}`,
    );
  }
  if (accept === undefined || accept.trim() === '') return 'arrow';
  const types = accept
    .split(',')
    .map((part) => part.split(';'))
    .map(([type, ...parameters]) => ({
      type: type!.trim().toLowerCase(),
      q: Number(
        parameters
          .find((parameter) => parameter.trim().startsWith('q='))
          ?.trim()
          .slice(2) ?? 1,
      ),
    }))
    .filter((entry) => entry.q > 0)
    .sort((a, b) => b.q - a.q);
  for (const { type } of types) {
    if (type === ARROW_STREAM_MEDIA_TYPE || type === '*/*' || type === 'application/*') return 'arrow';
    if (type === PARQUET_MEDIA_TYPE) return 'parquet';
  }
  throw new FeaturelogError(
    'NOT_ACCEPTABLE',
    `the result is ${ARROW_STREAM_MEDIA_TYPE} or ${PARQUET_MEDIA_TYPE}; Accept: ${accept} takes neither`,
  );
}
