import { FeaturelogError, type RowProblem } from '@featurelog/domain';

/** One problem of one row: `row` is the row's index in what the caller handed over (0-based). */
export interface RowProblemAt extends RowProblem {
  row: number;
}

/** Problems named in the error message; the rest are in `problems`. */
const PROBLEMS_IN_MESSAGE = 10;

/**
 * Rows refused before anything was produced. `problems` lists every problem of every bad row, each
 * naming the row and the field; the message names the first few.
 */
export class InvalidRowsError extends FeaturelogError {
  readonly problems: RowProblemAt[];

  constructor(
    view: string,
    problems: RowProblemAt[],
    { rowCount, describeRow = (row) => `row ${row}` }: { rowCount: number; describeRow?: (row: number) => string },
  ) {
    const badRows = new Set(problems.map((p) => p.row)).size;
    const shown = problems.slice(0, PROBLEMS_IN_MESSAGE).map((p) => `${describeRow(p.row)}: ${p.message}`);
    const more = problems.length > shown.length ? `; and ${problems.length - shown.length} more problem(s)` : '';
    super(
      'INVALID_ROWS',
      `${badRows} of ${rowCount} row(s) for ${view} are invalid, so none was produced: ${shown.join('; ')}${more}`,
    );
    this.problems = problems;
  }
}
