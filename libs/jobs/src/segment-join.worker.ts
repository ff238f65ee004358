import { parentPort } from 'node:worker_threads';
import { FeaturelogError } from '@featurelog/domain';
import { joinHistorySource, ViewWinners, type EntityColumns } from '@featurelog/pit';
import { encodeRowGroup } from './training-set-writer';
import type { SegmentJoinRequest, SegmentJoinReply } from './segment-join-pool';
import { readSegmentColumns } from '@featurelog/offline-store';

/**
 * A segment-join worker (see SegmentJoinPool): holds the entity rows of the current pass and the winners of
 * the current view, joins the segments it is sent into them, and hands the winners back when asked; it
 * also encodes training-set row groups.
 */
const port = parentPort!;
let entities: EntityColumns | undefined;
let view: { features: string[]; numeric: boolean[]; ttlSeconds: number } | undefined;
let winners: ViewWinners | undefined;

port.on('message', (request: SegmentJoinRequest) => {
  void handle(request).then(
    (reply) => {
      if (reply === undefined) return;
      if (reply.type === 'encoded') {
        port.postMessage(reply, [reply.group.bytes.buffer as ArrayBuffer]);
      } else if (reply.type === 'winners') {
        // The typed arrays move to the main thread; this view's winners are done here.
        port.postMessage(reply, winners?.transferables() ?? []);
        winners = undefined;
      } else port.postMessage(reply);
    },
    (error: unknown) => {
      const reply: SegmentJoinReply = {
        type: 'error',
        code: error instanceof FeaturelogError ? error.code : 'EXPORT_WORKER_FAILED',
        message: (error as Error).message,
        retriable: error instanceof FeaturelogError ? error.retriable : false,
      };
      port.postMessage(reply);
    },
  );
});

async function handle(request: SegmentJoinRequest): Promise<SegmentJoinReply | undefined> {
  switch (request.type) {
    case 'entities':
      entities = request.entities;
      return undefined;
    case 'view':
      view = request;
      winners = undefined;
      return undefined;
    case 'segment': {
      const { path, schema, features, keyForm, withAppendTime, keep, asServed } = request;
      winners ??= new ViewWinners(entities!.timestamps.length, view!.features, view!.ttlSeconds, view!.numeric);
      const until = keep === null ? undefined : new Map(keep);
      const joined = await joinHistorySource(
        entities!,
        readSegmentColumns(path, schema, {
          features,
          keyForm,
          withAppendTime,
          keep: until === undefined ? undefined : (partition, offset) => offset < (until.get(partition) ?? 0),
        }),
        winners!,
        { source: path, asServed },
      );
      return { type: 'joined', historyRows: joined.historyRows };
    }
    case 'encode':
      return { type: 'encoded', id: request.id, group: encodeRowGroup(request.columns, request.data, request.rows) };
    case 'finish': {
      const reply: SegmentJoinReply = { type: 'winners', data: winners?.data ?? null };
      return reply;
    }
  }
}
