/** Exit codes besides 0 (done) and 1 (failed), in one place: the command declarations name them in their help. */

/** `plan`: something would change, so a CI job can tell (like terraform -detailed-exitcode). */
export const PLAN_HAS_CHANGES_EXIT_CODE = 2;
/** Exit code of `plan` when apply would refuse a change (as for any error). */
export const PLAN_BREAKING_EXIT_CODE = 1;

/** `ingest --skip-invalid` produced the good rows but rejected some: the job half-succeeded. */
export const INGEST_ROWS_REJECTED_EXIT_CODE = 3;
