import type { RegistryApplier, RegistryFollower } from '@featurelog/registry';

/** What the registry app runs on: built from featurelog.yaml by main.ts, closed on shutdown. */
export interface RegistryRuntime {
  follower: RegistryFollower;
  applier: RegistryApplier;
  close(): Promise<void>;
}

export const REGISTRY_RUNTIME = Symbol('featurelog:RegistryRuntime');
