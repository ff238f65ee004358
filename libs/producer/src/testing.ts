/**
 * @featurelog/producer/testing: a project with its definitions applied (embedded or on the stack) and
 * readers of its topics, for the producer's specs and the serving app's push specs. Kept out of the
 * production barrel (index.ts): test code is not part of what the lib ships.
 */
export * from './producer.test-kit';
