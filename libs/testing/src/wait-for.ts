import { randomBytes } from 'node:crypto';

export interface WaitOptions {
  /** How long to keep trying before failing the test. */
  timeoutMs?: number;
  /** Pause between tries; short, since each try is a real check against a real component. */
  intervalMs?: number;
  /** Said in the failure, so a timeout names what never happened. */
  description?: string;
}

/**
 * Polls `probe` until it returns a value other than undefined/false, or fails after the deadline
 * with the last error or value seen. Tests wait on conditions, never on the clock.
 */
export async function waitFor<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 15_000, intervalMs = 25, description = 'condition' }: WaitOptions = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value as T;
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() >= deadline) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${description} (last: ${detail})`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Waits until no process has this pid any more (killed or exited, and reaped if it was a child). */
export function waitForProcessGone(pid: number, options: WaitOptions = {}): Promise<true> {
  return waitFor(() => {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  }, options);
}

/** A name no other test run uses, so tests on a shared broker never see each other's data. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}
