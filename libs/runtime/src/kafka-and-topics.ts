import { resolve } from 'node:path';
import type { LogSettings } from '@featurelog/config';
import { KafkaEventLog, loadTopicDeclarations, topicSpecFor, type EventLog } from '@featurelog/log';
import type { ProjectTopicSpecs } from '@featurelog/registry';
import { secretValue, tlsConnectionOptions } from './connection-options';

/** The topic families declared in the repo's topics/ folder (partitions and configs). */
export const TOPIC_DECLARATIONS_DIR = resolve(__dirname, '..', '..', '..', 'topics');

export async function openKafkaEventLog(settings: Extract<LogSettings, { type: 'kafka' }>): Promise<EventLog> {
  const { tls, sasl } = settings;
  return KafkaEventLog.connect({
    brokers: settings.brokers,
    clientId: settings.clientId,
    ...(settings.sessionTimeoutMs !== undefined && { sessionTimeoutMs: settings.sessionTimeoutMs }),
    ...(settings.heartbeatIntervalMs !== undefined && { heartbeatIntervalMs: settings.heartbeatIntervalMs }),
    ...(tls !== undefined && { tls: await tlsConnectionOptions(tls, 'log') }),
    ...(sasl !== undefined && {
      sasl: { mechanism: sasl.mechanism, username: sasl.username, password: secretValue(sasl.password) },
    }),
  });
}

export async function projectTopicSpecs(
  project: string,
  directory = TOPIC_DECLARATIONS_DIR,
): Promise<ProjectTopicSpecs> {
  const declarations = await loadTopicDeclarations(directory);
  return {
    project: (['registry', 'segments', 'jobs', 'dlq'] as const).map((family) =>
      topicSpecFor(declarations, family, project),
    ),
    features: (view) =>
      topicSpecFor(
        declarations,
        'features',
        project,
        view,
        view.partitions === undefined ? {} : { partitions: view.partitions },
      ),
  };
}
