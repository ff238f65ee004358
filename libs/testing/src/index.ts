export * from './wait-for';
export * from './seeded-random';
