/**
 * @featurelog/serving/testing: the definitions the serving tests and benches share. Kept out of the
 * production barrel (index.ts): test data is not part of what the lib ships.
 */
export * from './serving.fixture';
