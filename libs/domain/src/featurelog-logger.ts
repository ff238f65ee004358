/** Levels of a featurelog log line, least to most severe (`log` writes an `info` line). */
export const LOG_LEVELS = ['info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Where an app and the libs it composes write their log lines: one small interface, so that a
 * consumer, a Nest app and a command all log the same way and the composing process (an app's main,
 * `featurelog dev`) alone decides where lines go and which levels it keeps. Its shape is Nest's
 * LoggerService reduced to three levels, so a Nest `Logger` is one, and so is a lib's logger option
 * of the same three methods. Lines are plain text and never hold a secret (an API key, a password).
 *
 * Implementations: `consoleLogger` of @featurelog/observability (and `nestLoggerService` turns one into
 * Nest's own logger); tests pass SILENT_LOGGER or a recording one.
 */
export interface FeaturelogLogger {
  /** Progress worth a line in normal operation (a consumer started, a view was added): level `info`. */
  log(message: string): void;
  /** Something went wrong and is being retried or worked around; no action needed yet. */
  warn(message: string): void;
  /** Something failed that needs attention (a consumer gave up, a request failed with a 500). */
  error(message: string): void;
}

/** Drops every line: for tests and for composers that report through other means. */
export const SILENT_LOGGER: FeaturelogLogger = { log() {}, warn() {}, error() {} };

/** Whether a line of `level` passes a logger that keeps `threshold` and above. */
export function logLevelAtLeast(level: LogLevel, threshold: LogLevel): boolean {
  return LOG_LEVELS.indexOf(level) >= LOG_LEVELS.indexOf(threshold);
}

/** The method of `logger` that writes a line of `level` (for libs whose callbacks name the level). */
export function logAt(logger: FeaturelogLogger, level: LogLevel, message: string): void {
  if (level === 'info') logger.log(message);
  else logger[level](message);
}

/** `logger` with every line prefixed by `[scope]`: which app or consumer of a shared process wrote it. */
export function scopedLogger(logger: FeaturelogLogger, scope: string): FeaturelogLogger {
  return {
    log: (message) => logger.log(`[${scope}] ${message}`),
    warn: (message) => logger.warn(`[${scope}] ${message}`),
    error: (message) => logger.error(`[${scope}] ${message}`),
  };
}
