// First: the libs' NestJS decorators record their metadata through it as their classes are defined.
import 'reflect-metadata';
import { createWriteStream, type WriteStream } from 'node:fs';
import { basename, resolve } from 'node:path';
import { once } from 'node:events';
import { SingleBar } from 'cli-progress';
import { FeaturelogError } from '@featurelog/domain';
import {
  FeatureProducer,
  ingestFile,
  type IngestProgress,
  type IngestSummary,
  type RejectedRow,
} from '@featurelog/producer';
import { INGEST_ROWS_REJECTED_EXIT_CODE } from '../exit-codes';
import { consoleOutput } from '../output';
import { loadConfig, withRuntime } from '../repo';
import type { ApiKeyOptions } from '../api-key';

/** Bad rows printed on the terminal; all of them go to the reject file. */
const REJECTS_SHOWN = 20;
/** Without a terminal (CI, logs), a progress line this often. */
const PROGRESS_LINE_INTERVAL_MS = 2_000;

export interface IngestOptions extends ApiKeyOptions {
  repo: string;
  json: boolean;
  skipInvalid: boolean;
  rejects?: string;
  batchSize: string;
}

export async function ingest(view: string, file: string | undefined, options: IngestOptions): Promise<void> {
  const out = consoleOutput(options.json);
  const batchSize = Number(options.batchSize);
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new FeaturelogError('INVALID_OPTION', `--batch-size must be a positive integer, got ${options.batchSize}`);
  }
  const config = await loadConfig(options);
  const rejects = new RejectReport(options.rejects, file ?? view);
  const progress = progressReporter();
  let summary: IngestSummary;
  try {
    summary = await withRuntime(config, options, async (runtime) => {
      const { follower } = runtime.registry();
      await follower.catchUp();
      follower.assertComplete();
      const producer = new FeatureProducer({
        log: runtime.log,
        schemas: runtime.schemas,
        project: runtime.project,
        definitions: follower,
      });
      return ingestFile({
        producer,
        view,
        ...(file === undefined ? {} : { path: resolve(file) }),
        baseDir: config.repoDir,
        skipInvalid: options.skipInvalid,
        batchSize,
        onProgress: progress.update,
        onRejected: (row) => rejects.add(row),
      });
    });
  } finally {
    progress.stop();
    await rejects.close();
  }
  out.print(renderSummary(summary, rejects));
  out.data({ ...summary, rejectsFile: rejects.count > 0 ? rejects.path : null });
  if (summary.refused) {
    throw new FeaturelogError(
      'INGEST_REFUSED',
      `${summary.rejected} of ${summary.rows} row(s) are invalid, so nothing was produced (all or nothing); ` +
        `fix them (every one is in ${rejects.path}) or pass --skip-invalid to produce the valid rows`,
    );
  }
  if (summary.rejected > 0) process.exitCode = INGEST_ROWS_REJECTED_EXIT_CODE;
}

/** Every rejected row into a JSON-lines file (opened on the first one); the first few on stderr. */
class RejectReport {
  readonly path: string;
  count = 0;
  private stream: WriteStream | undefined;

  constructor(path: string | undefined, input: string) {
    this.path = resolve(path ?? `${basename(input)}.rejects.jsonl`);
  }

  add(rejected: RejectedRow): void {
    this.count++;
    this.stream ??= createWriteStream(this.path);
    this.stream.write(`${JSON.stringify(rejected, jsonValue)}\n`);
    if (this.count <= REJECTS_SHOWN) {
      const where = rejected.line === undefined ? `row ${rejected.row}` : `row ${rejected.row} (line ${rejected.line})`;
      process.stderr.write(`  rejected ${where}: ${rejected.problems.map((p) => p.message).join('; ')}\n`);
    } else if (this.count === REJECTS_SHOWN + 1) {
      process.stderr.write(`  … more rejected rows are in ${this.path}\n`);
    }
  }

  async close(): Promise<void> {
    if (this.stream === undefined) return;
    this.stream.end();
    await once(this.stream, 'close');
  }
}

/** File values may be bigint (Parquet int64) or bytes: JSON has neither. */
function jsonValue(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  return value;
}

/** A progress bar on a terminal; otherwise a line every few seconds, so CI logs show the job is alive. */
function progressReporter(): { update: (progress: IngestProgress) => void; stop: () => void } {
  const rate = (p: IngestProgress) => (p.elapsedMs > 0 ? Math.round(p.rows / (p.elapsedMs / 1000)) : 0);
  if (process.stderr.isTTY) {
    let bar: SingleBar | undefined;
    let phase: IngestProgress['phase'] | undefined;
    return {
      update: (p) => {
        if (phase !== p.phase) {
          bar?.stop();
          phase = p.phase;
          bar = new SingleBar({
            stream: process.stderr,
            format: `${p.phase === 'validate' ? 'validating' : 'producing '} [{bar}] {percentage}% | {rows} rows | {rate} rows/s | {rejected} rejected`,
            hideCursor: true,
          });
          bar.start(1000, 0, { rows: 0, rate: 0, rejected: 0 });
        }
        bar!.update(Math.round(p.fraction * 1000), { rows: p.rows, rate: rate(p), rejected: p.rejected });
      },
      stop: () => bar?.stop(),
    };
  }
  let last = 0;
  return {
    update: (p) => {
      const now = performance.now();
      if (now - last < PROGRESS_LINE_INTERVAL_MS && p.fraction < 1) return;
      last = now;
      const total = p.totalRows === undefined ? '' : ` of ${p.totalRows}`;
      process.stderr.write(
        `${p.phase}: ${p.rows}${total} rows (${Math.round(p.fraction * 100)}%), ${rate(p)} rows/s, ${p.rejected} rejected\n`,
      );
    },
    stop: () => undefined,
  };
}

function renderSummary(summary: IngestSummary, rejects: RejectReport): string {
  const perSecond = (ms: number, rows: number) => (ms > 0 ? `${Math.round(rows / (ms / 1000))} rows/s` : '-');
  const lines = [
    `Ingest of ${summary.path} (${summary.format}) into ${summary.view} (topic ${summary.topic}):`,
    `  columns: ${summary.mapping.map((m) => (m.column === m.field ? m.field : `${m.column} → ${m.field}`)).join(', ')}`,
  ];
  if (summary.ignoredColumns.length > 0) lines.push(`  ignored columns: ${summary.ignoredColumns.join(', ')}`);
  lines.push(`  rows read:  ${summary.rows}`);
  lines.push(
    `  produced:   ${summary.produced}${summary.produceMs > 0 ? ` (${perSecond(summary.produceMs, summary.produced)})` : ''}`,
  );
  lines.push(`  rejected:   ${summary.rejected}${rejects.count > 0 ? ` (every one in ${rejects.path})` : ''}`);
  if (summary.validateMs > 0)
    lines.push(
      `  validated in ${(summary.validateMs / 1000).toFixed(2)} s (${perSecond(summary.validateMs, summary.rows)})`,
    );
  if (summary.produceMs > 0) lines.push(`  produced in  ${(summary.produceMs / 1000).toFixed(2)} s`);
  return lines.join('\n');
}
