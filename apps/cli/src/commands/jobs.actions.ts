// First: the libs' NestJS decorators record their metadata through it as their classes are defined.
import 'reflect-metadata';
import { resolve } from 'node:path';
import { SingleBar } from 'cli-progress';
import { FeaturelogError, parseTimestampText } from '@featurelog/domain';
import {
  assertParquetOutput,
  projectJobExecutor,
  followJob,
  submitJob,
  type JobProgress,
  type JobSpec,
} from '@featurelog/jobs';
import { consoleOutput, isoMicros } from '../output';
import { loadConfig, withRuntime } from '../repo';
import type { ApiKeyOptions } from '../api-key';

/** Without a terminal (CI, logs), a progress line this often. */
const PROGRESS_LINE_INTERVAL_MS = 2_000;

export interface JobCommandOptions extends ApiKeyOptions {
  repo: string;
  json: boolean;
  local: boolean;
  pickupTimeout: string;
}

export interface ExportCommandOptions extends JobCommandOptions {
  entities: string;
  features?: string[];
  service?: string;
  output: string;
  fullFeatureNames: boolean;
  asServed: boolean;
}

export interface BackfillCommandOptions extends JobCommandOptions {
  from?: string;
  to?: string;
  source: string;
}

export async function exportTrainingSet(options: ExportCommandOptions): Promise<void> {
  // Before a job is submitted: the jobs app would refuse it the same way, later.
  assertParquetOutput(options.output);
  const features = options.features
    ?.flatMap((text) => text.split(','))
    .map((text) => text.trim())
    .filter(Boolean);
  const spec: JobSpec = {
    kind: 'export',
    request: {
      entities: resolve(options.entities),
      ...(features && features.length > 0 ? { features } : {}),
      ...(options.service !== undefined ? { service: options.service } : {}),
      output: resolve(options.output),
      fullFeatureNames: options.fullFeatureNames,
      asServed: options.asServed,
    },
  };
  const result = (await runJob(spec, options)) as {
    output: string;
    rows: number;
    columns: string[];
    millis: number;
    segmentsRead: number;
    tailRows: number;
    undecodableTailRecords?: number;
  };
  const out = consoleOutput(options.json);
  out.data(result);
  out.print(
    `Wrote ${result.rows} rows × ${result.columns.length} columns to ${result.output} in ${(result.millis / 1000).toFixed(1)} s ` +
      `(${result.segmentsRead} segments, ${result.tailRows} log-tail rows).` +
      skippedNote(result.undecodableTailRecords),
  );
}

export async function backfill(view: string, options: BackfillCommandOptions): Promise<void> {
  if (options.source !== 'segments' && options.source !== 'log') {
    throw new FeaturelogError('INVALID_OPTION', `--source must be segments or log, got ${options.source}`);
  }
  const spec: JobSpec = {
    kind: 'backfill',
    request: {
      view,
      source: options.source,
      ...(options.from !== undefined ? { from: timeOption('--from', options.from) } : {}),
      ...(options.to !== undefined ? { to: timeOption('--to', options.to) } : {}),
    },
  };
  const result = (await runJob(spec, options)) as {
    rowsRead: number;
    rowsWon: number;
    millis: number;
    undecodableTailRecords?: number;
  };
  const out = consoleOutput(options.json);
  out.data(result);
  out.print(
    `Replayed ${result.rowsRead} rows of ${view} in ${(result.millis / 1000).toFixed(1)} s; ` +
      `${result.rowsWon} were newer than the online store's and were written.` +
      skippedNote(result.undecodableTailRecords),
  );
}

function timeOption(name: string, text: string): number {
  const micros = parseTimestampText(text);
  if (micros === undefined) {
    throw new FeaturelogError(
      'INVALID_OPTION',
      `${name} "${text}" is not a timestamp (e.g. 2025-01-31 or 2025-01-31T12:00:00Z)`,
    );
  }
  return micros;
}

/** Submits the job and follows it, or runs it here with --local; progress goes to stderr either way. */
async function runJob(spec: JobSpec, options: JobCommandOptions): Promise<unknown> {
  const pickupSeconds = Number(options.pickupTimeout);
  if (!Number.isFinite(pickupSeconds) || pickupSeconds < 0) {
    throw new FeaturelogError(
      'INVALID_OPTION',
      `--pickup-timeout must be a number of seconds >= 0, got ${options.pickupTimeout}`,
    );
  }
  const config = await loadConfig(options);
  const progress = progressReporter(options.json);
  try {
    return await withRuntime(config, options, async (runtime) => {
      if (options.local) {
        const { follower } = runtime.registry();
        const execute = projectJobExecutor(runtime, follower);
        return execute(spec, progress.update);
      }
      const job = await submitJob(runtime.log, config.project, spec, { requestedBy: process.env.USER });
      if (!options.json) process.stderr.write(`Submitted job ${job.jobId} at ${isoMicros(Date.now() * 1000)}\n`);
      return followJob(runtime.log, config.project, job, {
        pickupTimeoutMs: pickupSeconds * 1000,
        ...(process.env.USER ? { requestedBy: process.env.USER } : {}),
        onEvent: (event) => {
          if (event.type === 'JobProgress') progress.update(event);
        },
      });
    });
  } finally {
    progress.stop();
  }
}

function progressReporter(json: boolean): { update: (p: JobProgress) => void; stop: () => void } {
  if (json) return { update: () => undefined, stop: () => undefined };
  if (process.stderr.isTTY) {
    let bar: SingleBar | undefined;
    let phase: string | undefined;
    return {
      update: ({ phase: next, done, total }) => {
        if (next !== phase) {
          bar?.stop();
          phase = next;
          bar = new SingleBar({
            stream: process.stderr,
            format: `${next.padEnd(40).slice(0, 40)} [{bar}] {percentage}% | {value}/{total}`,
            hideCursor: true,
          });
          bar.start(Math.max(total, 1), 0);
        }
        bar!.setTotal(Math.max(total, 1));
        bar!.update(Math.min(done, Math.max(total, 1)));
      },
      stop: () => bar?.stop(),
    };
  }
  let last = 0;
  let phase: string | undefined;
  return {
    update: ({ phase: next, done, total }) => {
      const now = performance.now();
      if (next === phase && now - last < PROGRESS_LINE_INTERVAL_MS) return;
      phase = next;
      last = now;
      process.stderr.write(`${next}: ${done}/${total}\n`);
    },
    stop: () => undefined,
  };
}

/** Poison records of the log tail are left out of a replay; the consumers that met them dead-lettered them. */
function skippedNote(skipped: number | undefined): string {
  return skipped === undefined || skipped === 0
    ? ''
    : ` Skipped ${skipped} undecodable log-tail record(s) (poison; see the dead-letter topic).`;
}
