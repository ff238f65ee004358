// First: the libs' NestJS decorators record their metadata through it as their classes are defined.
import 'reflect-metadata';
import {
  DeadLetterQueue,
  parseDeadLetterFilter,
  parsePosition,
  positionText,
  type DeadLetterDetail,
} from '@featurelog/jobs';
import type { ProjectRuntime } from '@featurelog/runtime';
import { consoleOutput, table } from '../output';
import { loadConfig, withRuntime } from '../repo';
import type { ApiKeyOptions } from '../api-key';

export interface CommonOptions extends ApiKeyOptions {
  repo: string;
  json: boolean;
}

export interface FilterOptions {
  view?: string;
  reason?: string;
  since?: string;
  until?: string;
  status?: string;
}

async function withQueue<T>(options: CommonOptions, work: (queue: DeadLetterQueue) => Promise<T>): Promise<T> {
  const config = await loadConfig(options);
  return withRuntime(config, options, (runtime: ProjectRuntime) => {
    const { follower } = runtime.registry();
    const queue = new DeadLetterQueue({
      log: runtime.log,
      project: config.project,
      schemas: runtime.schemas,
      registry: () => follower.caughtUpState(),
    });
    return work(queue);
  });
}

function describeEntry(entry: DeadLetterDetail): string {
  const lines = [
    `dead letter ${entry.id}: ${entry.status}`,
    `  source         ${positionText(entry.source)}${entry.view === undefined ? '' : ` (view ${entry.view})`}`,
    `  dead-lettered  ${new Date(entry.deadLetteredAt).toISOString()}`,
    `  error          ${entry.error.code}: ${entry.error.reason}`,
    `  key            ${entry.key ?? '(none)'}`,
    '  headers',
    ...Object.entries(entry.headers).map(([name, value]) => `    ${name}: ${value}`),
  ];
  if (entry.body === null) lines.push('  body           (none: a tombstone)');
  else if ('row' in entry.body) {
    lines.push(`  body           schema id ${entry.body.schemaId}`);
    lines.push(...Object.entries(entry.body.row).map(([name, value]) => `    ${name}: ${JSON.stringify(value)}`));
  } else {
    const id = entry.body.schemaId === undefined ? '' : `schema id ${entry.body.schemaId}, `;
    lines.push(`  body           ${id}not decodable: ${entry.body.undecodable}`);
    if (entry.body.text !== undefined) lines.push(`    text: ${entry.body.text}`);
  }
  if (entry.redrive !== undefined) {
    const to = entry.redrive.to === undefined ? ' (not completed)' : ` to ${positionText(entry.redrive.to)}`;
    lines.push(`  redriven       ${new Date(Math.floor(entry.redrive.at / 1000)).toISOString()}${to}`);
  }
  lines.push(
    entry.redriveCheck.ok
      ? '  redrive now    the consumers would take it'
      : `  redrive now    would fail again: ${entry.redriveCheck.code}: ${entry.redriveCheck.message}`,
  );
  if (entry.redriveCheck.ok === false && entry.status === 'dead' && entry.error.code !== entry.redriveCheck.code) {
    lines.push('                 (a different error than when it was dead-lettered)');
  }
  return lines.join('\n');
}

export async function dlqLs(options: CommonOptions & FilterOptions & { limit: string; skip: string }): Promise<void> {
  const out = consoleOutput(options.json);
  const filter = parseDeadLetterFilter({ ...options });
  const page = await withQueue(options, (queue) =>
    queue.list(filter, { limit: Number(options.limit), skip: Number(options.skip) }),
  );
  out.data(page);
  if (page.total === 0) {
    out.print('No dead letters.');
    return;
  }
  out.print(
    table(
      ['entry', 'view', 'error', 'dead-lettered', 'source record', 'status'],
      page.items.map((entry) => [
        entry.id,
        entry.view ?? '',
        entry.error.code,
        new Date(entry.deadLetteredAt).toISOString(),
        positionText(entry.source),
        entry.status,
      ]),
    ),
  );
  out.print(
    `${page.items.length} of ${page.total}` +
      (page.next === undefined ? '.' : `; next page: --skip ${page.next}`) +
      ' Details: featurelog dlq show <entry>',
  );
}

export async function dlqShow(position: string, options: CommonOptions): Promise<void> {
  const out = consoleOutput(options.json);
  const parsed = parsePosition(position);
  const entry = await withQueue(options, (queue) => queue.show(parsed));
  out.data(entry);
  out.print(describeEntry(entry));
}

export async function dlqRedrive(
  positions: string[],
  options: CommonOptions & FilterOptions & { all: boolean; dryRun: boolean; force: boolean },
): Promise<void> {
  const out = consoleOutput(options.json);
  const filter = parseDeadLetterFilter({ ...options });
  const parsed = positions.map(parsePosition);
  const result = await withQueue(options, (queue) =>
    queue.redrive({
      positions: parsed,
      filter,
      all: options.all,
      dryRun: options.dryRun,
      force: options.force,
      ...(process.env.USER ? { by: process.env.USER } : {}),
    }),
  );
  out.data(result);
  if (result.matched === 0) {
    out.print('No dead letters matched.');
    return;
  }
  const failing = result.entries.filter((entry) => entry.outcome === 'fails-again');
  if (failing.length > 0) {
    out.print(
      table(
        ['entry', 'source record', 'fails again with'],
        failing.map((entry) => [entry.id, positionText(entry.source), `${entry.error!.code}: ${entry.error!.message}`]),
      ),
    );
  }
  out.print(
    `${result.dryRun ? 'Would re-append' : 'Re-appended'} ${result.reappended} of ${result.matched} ` +
      `dead letter(s); ${result.failsAgain} fail again (left in the DLQ: fix the cause and redrive again); ` +
      `${result.alreadyRedriven} already redriven.` +
      (result.redriveId === undefined ? '' : ` Redrive ${result.redriveId}.`),
  );
}
