/** A failure the user can act on: a stable code, what happened, and what to do. */
export class StackError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  readonly retriable: boolean;

  constructor(code: string, message: string, options: { hint?: string; retriable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StackError';
    this.code = code;
    this.hint = options.hint;
    this.retriable = options.retriable ?? false;
  }
}
