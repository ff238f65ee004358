/** How far a job is: `done` of `total` in its current phase (the worker reports it as a JobProgress event). */
export interface JobProgress {
  phase: string;
  done: number;
  total: number;
}

/** Where a job, and each stage of it, reports its progress. */
export type ProgressListener = (progress: JobProgress) => void;
