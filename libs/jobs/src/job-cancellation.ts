import { FeaturelogError } from '@featurelog/domain';

/** The code a job stopped by a cancel request ends with, and a cancelled job's outcome is reported as. */
export const JOB_CANCELLED = 'JOB_CANCELLED';

/**
 * Throws JOB_CANCELLED once `signal` is aborted. Jobs call it between stages (a frame, a segment, a
 * row group, a batch of rows), so a cancel takes effect within one stage, and always inside the code
 * that removes what the job had written so far.
 */
export function throwIfCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new FeaturelogError(JOB_CANCELLED, 'the job was cancelled');
}
