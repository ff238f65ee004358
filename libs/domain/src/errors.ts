/**
 * Every error featurelog raises carries a stable code (for programs and dashboards),
 * a message for people, whether retrying the same operation can help, and its cause.
 */
export class FeaturelogError extends Error {
  readonly code: string;
  readonly retriable: boolean;

  constructor(code: string, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable ?? false;
  }
}
