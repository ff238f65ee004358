import { runAppMain } from '@featurelog/runtime';
import { compactorApp, tuningFromEnv } from './compactor-app';

runAppMain(compactorApp, () => ({ tuning: tuningFromEnv() }));
