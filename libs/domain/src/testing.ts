export * from './definitions.fixture';
