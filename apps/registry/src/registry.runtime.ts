import { FeaturelogError } from '@featurelog/domain';
import type { ConnectorReconciler, RegistryApplier, RegistryFollower } from '@featurelog/registry';

/** What the registry app runs on: built from featurelog.yaml by main.ts, closed on shutdown. */
export interface RegistryRuntime {
  follower: RegistryFollower;
  applier: RegistryApplier;
  fold: RegistryFoldProgress;
  /** Present when featurelog.yaml names Connect workers: keeps the registry's connectors on them. */
  connectors?: ConnectorReconciler;
  /** Whether the log answers (health). */
  checkLog(): Promise<void>;
  close(): Promise<void>;
}

export const REGISTRY_RUNTIME = Symbol('featurelog:RegistryRuntime');

/**
 * Where the app's first fold of the log stands. The app listens before it has folded (so /health
 * and /metrics answer during a long cold start) but serves the registry only once it has read
 * the log up to the end it saw at start, and only if every event of it could be folded.
 */
export class RegistryFoldProgress {
  private caughtUp = false;
  private targetOffset: number | undefined;
  private lastFailure: unknown;

  constructor(private readonly follower: RegistryFollower) {}

  get ready(): boolean {
    return this.caughtUp;
  }

  /** The log end the first fold is heading for, once known. */
  target(offset: number): void {
    this.targetOffset = offset;
  }

  failed(error: unknown): void {
    this.lastFailure = error;
  }

  done(): void {
    this.caughtUp = true;
    this.lastFailure = undefined;
  }

  /** Throws REGISTRY_CATCHING_UP (retriable) during the first fold, REGISTRY_INCOMPLETE when it has holes. */
  assertServable(): void {
    if (!this.caughtUp) {
      const at =
        `at offset ${this.follower.nextOffset}` + (this.targetOffset === undefined ? '' : ` of ${this.targetOffset}`);
      const why =
        this.lastFailure === undefined
          ? ''
          : `; last attempt failed: ${this.lastFailure instanceof Error ? this.lastFailure.message : String(this.lastFailure)}`;
      throw new FeaturelogError(
        'REGISTRY_CATCHING_UP',
        `the registry app is still folding ${this.follower.topic} (${at}${why}); the registry is served once it has caught up`,
        { retriable: true },
      );
    }
    this.follower.assertComplete();
  }
}
