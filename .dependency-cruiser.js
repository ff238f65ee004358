/**
 * The folder tree is the architecture; these rules keep it honest (run by `npm run depcheck` in CI).
 * The pure libraries (domain, pit) hold the semantics and must stay free of frameworks and drivers,
 * so that they can be tested as plain functions and reused by any adapter.
 */
/**
 * Test code: specs, test kits, the adapters' contract suites, shared fixtures, each lib's `testing` entry
 * (@featurelog/<lib>/testing) and libs/testing. Everything else under apps/, libs/ and tools/ ships or runs
 * in production, and must not load it (nor node:test / node:assert, which a contract suite would bring).
 */
const testCode = '\\.(spec|test-kit|contract|fixture)\\.ts$|^libs/[^/]+/src/testing\\.ts$|^libs/testing/';
const drivers =
  '^(kafkajs|@kafkajs|ioredis|classic-level|avsc|apache-arrow|parquet|parquetjs|hyparquet|@nestjs|fastify|@fastify|prom-client|@duckdb)';
module.exports = {
  forbidden: [
    {
      name: 'pure-libs-import-no-framework-or-driver',
      comment: 'libs/domain and libs/pit are plain TypeScript: no framework, no driver, no I/O library.',
      severity: 'error',
      from: { path: '^libs/(domain|pit)/' },
      to: { path: `node_modules/${drivers.slice(1)}`, dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'domain-imports-only-domain',
      comment: 'The domain depends on nothing else in the repo (its tests may use @featurelog/testing).',
      severity: 'error',
      from: { path: '^libs/domain/' },
      to: { path: '^(libs/(?!domain/)|apps/|tools/)', pathNot: '^libs/testing/' },
    },
    {
      name: 'pit-imports-only-domain',
      severity: 'error',
      from: { path: '^libs/pit/' },
      to: { path: '^(libs/(?!(pit|domain)/)|apps/|tools/)', pathNot: '^libs/testing/' },
    },
    {
      name: 'only-tests-import-testing',
      comment: '@featurelog/testing is test support: only specs, test kits, contracts and benches use it.',
      severity: 'error',
      from: { path: '^(libs|apps)/', pathNot: '\\.(spec|test-kit|contract|fixture)\\.ts$|^libs/testing/' },
      to: { path: '^libs/testing/' },
    },
    {
      name: 'production-never-imports-test-code',
      comment:
        'Contract suites and fixtures are reached through @featurelog/<lib>/testing, never from a production file, ' +
        'so that loading a lib (or the built CLI) never loads test code.',
      severity: 'error',
      from: { path: '^(libs|apps|tools)/', pathNot: testCode },
      to: { path: testCode },
    },
    {
      name: 'production-never-imports-node-test',
      comment: 'node:test and node:assert belong to tests: a production file that loads them is test code in disguise.',
      severity: 'error',
      from: { path: '^(libs|apps|tools)/', pathNot: testCode },
      to: { dependencyTypes: ['core'], path: '^(node:)?(test|assert)(/|$)' },
    },
    {
      name: 'readers-never-import-consumers',
      comment:
        'Serving and jobs read what the consumers wrote; they decode records with @featurelog/view-rows and read ' +
        'segments with @featurelog/offline-store, never through the materializer or the compactor (tests included), ' +
        'so that a consumer can change without the readers, and no reader loads a consumer it does not run.',
      severity: 'error',
      from: { path: '^libs/(serving|jobs)/' },
      to: { path: '^libs/(materializer|compactor)/' },
    },
    {
      name: 'view-rows-and-offline-store-import-no-framework',
      comment:
        'The decoder of view rows and the offline store are plain libraries that every consumer and reader shares: ' +
        'no NestJS, and no consumer or reader lib.',
      severity: 'error',
      from: { path: '^libs/(view-rows|offline-store)/' },
      to: { path: '(^|/)node_modules/@nestjs/|^libs/(materializer|compactor|serving|jobs|registry|runtime)/' },
    },
    {
      name: 'libs-never-import-apps',
      severity: 'error',
      from: { path: '^libs/' },
      to: { path: '^apps/' },
    },
    {
      name: 'no-deep-imports-into-libs',
      comment:
        'A lib is entered only through libs/<name>/src/index.ts (@featurelog/<name>), or by tests through ' +
        'libs/<name>/src/testing.ts (@featurelog/<name>/testing).',
      severity: 'error',
      from: { path: '^(apps|tools|bench)/' },
      to: { path: '^libs/[^/]+/src/(?!(index|testing)\\.ts$)' },
    },
    {
      name: 'no-deep-imports-into-apps',
      comment:
        'An app is entered from outside only through apps/<name>/src/index.ts (@featurelog/app-<name>): its Nest ' +
        'module and its FeaturelogApp. `featurelog dev`, tests of other apps and benches compose apps through it.',
      severity: 'error',
      from: { path: '^(apps/[^/]+|tools|bench)/' },
      to: { path: '^apps/[^/]+/src/(?!index\\.ts$)', pathNot: '^$1/' },
    },
    {
      name: 'no-deep-imports-between-libs',
      severity: 'error',
      from: { path: '^libs/([^/]+)/' },
      to: { path: '^libs/[^/]+/src/(?!(index|testing)\\.ts$)', pathNot: '^libs/$1/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    exclude: { path: '(^|/)(dist|\\.stack|\\.venv)/' },
  },
};
