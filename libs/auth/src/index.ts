export * from './api-key-verifier';
export * from './route-access';
