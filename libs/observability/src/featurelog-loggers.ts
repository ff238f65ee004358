import type { LoggerService } from '@nestjs/common';
import { logLevelAtLeast, type FeaturelogLogger, type LogLevel } from '@featurelog/domain';

/**
 * Lines of `level` and above, each with its time and level, as Nest's console logger splits them:
 * `info` to stdout, `warn` and `error` to stderr (so a supervisor that keeps stderr keeps the problems).
 */
export function consoleLogger({ level = 'info' }: { level?: LogLevel } = {}): FeaturelogLogger {
  const write = (at: LogLevel, stream: NodeJS.WriteStream) => (message: string) => {
    if (logLevelAtLeast(at, level)) stream.write(`${new Date().toISOString()} ${at.toUpperCase()} ${message}\n`);
  };
  return {
    log: write('info', process.stdout),
    warn: write('warn', process.stderr),
    error: write('error', process.stderr),
  };
}

/**
 * Nest's own lines (start-up, the exception filter's 500s, `new Logger(context)` of a lib) into a
 * FeaturelogLogger: pass it as NestFactory.create's `logger`. Nest's logger is process-wide (the last
 * app created sets it), so every app of one process must pass the same kind of logger. `debug` and `verbose` are dropped; the context becomes the line's `[scope]`.
 */
export function nestLoggerService(logger: FeaturelogLogger): LoggerService {
  const line = (message: unknown, params: unknown[]): string => {
    const context = typeof params.at(-1) === 'string' ? (params.at(-1) as string) : undefined;
    // Nest's error(message, stack, context): the stack is the useful part.
    const stack = params.length > 1 && typeof params[0] === 'string' ? `\n${params[0]}` : '';
    const text = message instanceof Error ? (message.stack ?? message.message) : String(message);
    return `${context === undefined ? '' : `[${context}] `}${text}${stack}`;
  };
  return {
    log: (message: unknown, ...params: unknown[]) => logger.log(line(message, params)),
    warn: (message: unknown, ...params: unknown[]) => logger.warn(line(message, params)),
    error: (message: unknown, ...params: unknown[]) => logger.error(line(message, params)),
    fatal: (message: unknown, ...params: unknown[]) => logger.error(line(message, params)),
    debug: () => undefined,
    verbose: () => undefined,
  };
}
