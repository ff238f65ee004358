import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Logger } from '@nestjs/common';
import { logAt, scopedLogger, type FeaturelogLogger } from '@featurelog/domain';
import { nestLoggerService, consoleLogger } from './featurelog-loggers';

function recording(): { logger: FeaturelogLogger; lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    logger: {
      log: (message) => lines.push(`info ${message}`),
      warn: (message) => lines.push(`warn ${message}`),
      error: (message) => lines.push(`error ${message}`),
    },
  };
}

describe('FeaturelogLogger', () => {
  it("takes Nest's own lines, with their context as the scope and an error's stack", () => {
    const { logger, lines } = recording();
    Logger.overrideLogger(nestLoggerService(logger));
    try {
      new Logger('http').error('boom', 'Error: boom\n    at x');
      new Logger('NestFactory').log('Starting Nest application...');
      new Logger('feed').warn('skipping a record');
      new Logger('x').debug?.('not kept');
    } finally {
      Logger.overrideLogger(false);
    }
    assert.deepEqual(lines, [
      'error [http] boom\nError: boom\n    at x',
      'info [NestFactory] Starting Nest application...',
      'warn [feed] skipping a record',
    ]);
  });

  it('prefixes the scope, and writes a level-named line through the right method', () => {
    const { logger, lines } = recording();
    const scoped = scopedLogger(logger, 'materializer');
    logAt(scoped, 'info', 'consuming 2 topics');
    logAt(scoped, 'error', 'gave up');
    assert.deepEqual(lines, ['info [materializer] consuming 2 topics', 'error [materializer] gave up']);
  });

  it('keeps the levels at and above its threshold: info on stdout, warnings and errors on stderr', () => {
    const written: string[] = [];
    const streams = [process.stdout, process.stderr] as const;
    const writes = streams.map((stream) => stream.write);
    for (const stream of streams) {
      const name = stream === process.stdout ? 'stdout' : 'stderr';
      stream.write = ((chunk: string) => written.push(`${name} ${chunk}`) > 0) as typeof stream.write;
    }
    try {
      consoleLogger({ level: 'warn' }).log('start-up line');
      consoleLogger({ level: 'warn' }).warn('retrying');
      consoleLogger().log('consuming');
      consoleLogger().error('failed');
    } finally {
      streams.forEach((stream, i) => (stream.write = writes[i]!));
    }
    assert.equal(written.length, 3, written.join(''));
    assert.match(written[0]!, /^stderr \d{4}-\d\d-\d\dT[\d:.]+Z WARN retrying\n$/);
    assert.match(written[1]!, /^stdout .*Z INFO consuming\n$/);
    assert.match(written[2]!, /^stderr .*Z ERROR failed\n$/);
  });
});
