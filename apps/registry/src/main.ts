import { runAppMain } from '@featurelog/runtime';
import { registryApp } from './registry-app';

const foldBatch = process.env.FEATURELOG_REGISTRY_FOLD_BATCH;
runAppMain(registryApp, () => ({
  ...(process.env.FEATURELOG_REGISTRY_STATE ? { statePath: process.env.FEATURELOG_REGISTRY_STATE } : {}),
  ...(foldBatch ? { foldBatch: Number(foldBatch) } : {}),
}));
