/**
 * Where the local stack listens (tools/stack/stack-env.ts, which the stack scripts own), re-exported so
 * that test kits, specs and benches reach it as `@featurelog/testing` instead of by a relative path that
 * depends on how deep each file sits.
 */
export * from '../../../tools/stack/stack-env';
