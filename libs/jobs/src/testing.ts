/**
 * @featurelog/jobs/testing: the jobs' test fixtures (definitions, rows on a log, segments written from
 * them) and the point-in-time scenario kit (brute-force oracle, Parquet reading), for the specs of other
 * libs that check an export against what a consumer wrote (the compactor's segments). Kept out of the
 * production barrel (index.ts) so that loading the lib never loads test code.
 */
export * from './jobs.test-kit';
export * from './pit-scenario.test-kit';
