import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import {
  SILENT_LOGGER,
  topicNames,
  type RegistryChange,
  type RegistryChangeset,
  type TaggedDefinition,
} from '@featurelog/domain';
import { FileEventLog, type EventLog } from '@featurelog/log';
import { createMetricsRegistry } from '@featurelog/observability';
import { RedisOnlineStore } from '@featurelog/online-store';
import { RegistryFollower, type RegistryCodec } from '@featurelog/registry';
import { servingTestDefinitions, upsertChangeset } from '@featurelog/serving/testing';
import { stackEnv, uniqueName } from '@featurelog/testing';
import { createServingApp, type ServingAppOptions } from './serving-app';

export const redisUrl = stackEnv().redisUrl;

/** JSON on the registry topic: the follower does not depend on the codec. */
export const jsonRegistryCodec: RegistryCodec = {
  encode: async (changeset) => Buffer.from(JSON.stringify(changeset)),
  decode: async (value) => JSON.parse(value.toString()) as RegistryChangeset,
};

export interface ServingUnderTest {
  app: NestFastifyApplication;
  url: string;
  project: string;
  store: RedisOnlineStore;
  /** The store's key prefix (unique per test). */
  keyPrefix: string;
  /** Holds the registry topic (and feature topics unless a Kafka log is given). */
  log: EventLog;
  follower: RegistryFollower;
  /** Upserts these definitions, as one apply; resolves once the follower folded it. */
  apply(definitions: TaggedDefinition[]): Promise<void>;
  /** Any changes (deletes too), as one apply. */
  applyChanges(changes: RegistryChange[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * A serving app on an ephemeral port over real Redis (unique key prefix), with the registry folded
 * from a log the test appends changesets to. `log` defaults to a file log in a temp directory.
 */
export async function startServing(
  overrides: Partial<Omit<ServingAppOptions, 'project' | 'onlineStore' | 'follower' | 'metrics'>> = {},
  /** `redisClusterUrl`: the online store on this Redis Cluster instead of the stack's single Redis */
  { keyPrefix = uniqueName('serving'), redisClusterUrl }: { keyPrefix?: string; redisClusterUrl?: string } = {},
): Promise<ServingUnderTest> {
  const project = uniqueName('srv').replace(/-/g, '_');
  const store = await RedisOnlineStore.connect({
    url: redisClusterUrl ?? redisUrl,
    keyPrefix,
    ...(redisClusterUrl !== undefined && { cluster: true }),
  });
  let directory: string | undefined;
  let log = overrides.log;
  if (log === undefined) {
    directory = await mkdtemp(join(tmpdir(), 'serving-'));
    log = await FileEventLog.open({ directory, fsync: 'never' });
  }
  const registryTopic = topicNames.registry(project);
  await log.ensureTopic({ name: registryTopic, partitions: 1, config: {} });
  const follower = new RegistryFollower({ log, codec: jsonRegistryCodec, project });
  const append = async (changeset: RegistryChangeset) => {
    const [position] = await log.append(registryTopic, [
      { key: Buffer.from('apply'), value: await jsonRegistryCodec.encode(changeset) },
    ]);
    await follower.waitForOffset(position!.offset);
    const rejected = follower.state.rejections.find((rejection) => rejection.applyId === changeset.applyId);
    if (rejected) throw new Error(`the test's apply was rejected: ${rejected.message}`);
  };
  const apply = async (definitions: TaggedDefinition[]) => {
    await follower.catchUp();
    await append(upsertChangeset(definitions, follower.state.version));
  };
  const applyChanges = async (changes: RegistryChange[]) => {
    await follower.catchUp();
    const basedOnVersion = follower.state.version;
    await append({
      applyId: `changes-${basedOnVersion}-${Math.random()}`,
      basedOnVersion,
      appliedAt: Date.now() * 1_000,
      changes,
    });
  };
  await apply(servingTestDefinitions());
  await follower.start(uniqueName('serving-registry'));
  const app = await createServingApp({
    auth: {},
    ...overrides,
    project,
    onlineStore: store,
    log,
    follower,
    metrics: createMetricsRegistry('serving'),
    logger: SILENT_LOGGER,
  });
  await app.listen(0, '127.0.0.1');
  const url = await app.getUrl();
  const underTest: ServingUnderTest = {
    app,
    url,
    project,
    store,
    keyPrefix,
    log,
    follower,
    apply,
    applyChanges,
    close: async () => {
      // The test may have replaced the app (a restart on the same port).
      await underTest.app.close();
      await follower.stop();
      await store.close();
      if (directory !== undefined) {
        await log.close();
        await rm(directory, { recursive: true, force: true });
      }
    },
  };
  return underTest;
}

/** A serving answer: the Feast shape on 200, the error shape otherwise. */
export interface ResponseBody {
  statusCode: number;
  code: string;
  message: string;
  metadata: { feature_names: string[] };
  results: Array<{ values: unknown[]; statuses: string[]; event_timestamps: string[] }>;
}

export async function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: ResponseBody; headers: Headers }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: the test sees the text
  }
  return { status: response.status, body: parsed as ResponseBody, headers: response.headers };
}

/** One server-sent event as a test reads it; `id` is undefined when it has none, '' when it clears the id. */
export interface SseEvent<Data> {
  event: string;
  id: string | undefined;
  data: Data;
}

/** Opens an SSE stream (GET `url`), resuming after `lastEventId` when given. */
export function openSse(url: string, lastEventId?: string): Promise<IncomingMessage> {
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { headers }, resolve);
    request.on('error', reject);
    request.end();
  });
}

/** Reads an SSE response into a list of events as they arrive; `data` is parsed as JSON. */
export function collectSse<Data>(response: IncomingMessage): Array<SseEvent<Data>> {
  const events: Array<SseEvent<Data>> = [];
  let buffer = '';
  response.setEncoding('utf8');
  response.on('data', (chunk: string) => {
    buffer += chunk;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      const id = /^id:(.*)$/m.exec(block)?.[1]?.trim();
      if (event && data) events.push({ event, id, data: JSON.parse(data) as Data });
    }
  });
  return events;
}
