export * from './wait-for';
export * from './seeded-random';
export * from './stack-env';
export * from './app-process';
export * from './stack-project';
