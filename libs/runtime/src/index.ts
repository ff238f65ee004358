export * from './project-runtime';
