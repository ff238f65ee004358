export * from './api-key-verifier';
