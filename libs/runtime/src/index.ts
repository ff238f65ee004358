export * from './project-runtime';
export * from './dev-server-record';
export * from './event-log-bridge';
export * from './remote-event-log.adapter';
export { TOPIC_DECLARATIONS_DIR, projectTopicSpecs } from './kafka-and-topics';
export * from './json-http-client';
export * from './featurelog-app';
export * from './run-process';
