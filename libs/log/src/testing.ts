/**
 * @featurelog/log/testing: the event-log contract suites every adapter's spec runs. Kept out of the
 * production barrel (index.ts) so that loading the lib never loads node:test.
 */
export * from './event-log.contract';
export * from './event-log-follow.contract';
