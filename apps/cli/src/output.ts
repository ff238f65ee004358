import Table from 'cli-table3';
import { describeBreakingChange, type FieldDifference, type Plan, type PlanItem } from '@featurelog/domain';

/** Everything a command prints goes through here, so `--json` and the readable form never disagree on content. */
export interface Output {
  json: boolean;
  /** Readable text; dropped under `--json`. */
  print(text: string): void;
  /** The command's result; printed (as JSON) only under `--json`. */
  data(value: unknown): void;
}

export function consoleOutput(json: boolean): Output {
  return {
    json,
    print: (text) => void (json || process.stdout.write(`${text}\n`)),
    data: (value) => void (json && process.stdout.write(`${JSON.stringify(value, null, 2)}\n`)),
  };
}

/** An error as the CLI reports it: `featurelog: CODE: message`, or one JSON object under `--json`. */
export function renderError(error: { code: string; message: string; problems?: unknown }, json: boolean): string {
  if (json) {
    const body: Record<string, unknown> = { error: { code: error.code, message: error.message } };
    if (error.problems !== undefined) (body.error as Record<string, unknown>).problems = error.problems;
    return JSON.stringify(body, null, 2);
  }
  return `featurelog: ${error.code}: ${error.message}`;
}

const SYMBOL: Record<PlanItem['action'], string> = { create: '+', update: '~', delete: '-', unchanged: '=' };

function show(value: unknown): string {
  return JSON.stringify(value);
}

function differenceLine(difference: FieldDifference): string {
  const scope = difference.touchesData ? '' : '  (metadata)';
  if (difference.before === undefined) return `      + ${difference.path}: ${show(difference.after)}${scope}`;
  if (difference.after === undefined) return `      - ${difference.path}: ${show(difference.before)}${scope}`;
  return `      ~ ${difference.path}: ${show(difference.before)} → ${show(difference.after)}${scope}`;
}

function itemNote(item: PlanItem): string {
  if (item.action === 'unchanged') return 'unchanged';
  if (item.action === 'delete' && !item.willApply) return 'removed from the files; kept (delete with --prune)';
  if (!item.touchesData) return `${item.action}, metadata only`;
  // Only a feature view owns data-plane resources (its topic and row schema).
  return item.kind === 'feature_view' ? `${item.action}, touches data (topic, schema)` : item.action;
}

/** A plan as people read it: one line per object, then its field-level differences, then a summary. */
export function renderPlan(plan: Plan, project: string): string {
  const lines = [`Plan for project ${project} against registry version ${plan.basedOnVersion}:`, ''];
  const breaking = new Set((plan.breaking ?? []).map((change) => `${change.kind}/${change.name}`));
  for (const refusal of plan.refusedConnectors ?? []) breaking.add(`connector/${refusal.name}`);
  for (const item of plan.items) {
    const note = breaking.has(`${item.kind}/${item.name}`) ? `${itemNote(item)}, BREAKING` : itemNote(item);
    lines.push(`  ${SYMBOL[item.action]} ${`${item.kind} ${item.name}`.padEnd(44)} ${note}`);
    if (item.action === 'update') lines.push(...item.differences.map(differenceLine));
  }
  const count = (action: PlanItem['action']) => plan.items.filter((item) => item.action === action).length;
  const deletes = plan.items.filter((item) => item.action === 'delete' && item.willApply).length;
  const kept = count('delete') - deletes;
  lines.push(
    '',
    `${count('create')} to create, ${count('update')} to update, ${deletes} to delete, ${count('unchanged')} unchanged` +
      (kept > 0 ? `; ${kept} removed from the files but kept (apply --prune deletes them).` : '.'),
  );
  if (!plan.items.some((item) => item.willApply)) lines.push('Nothing to apply.');
  if (plan.breaking !== undefined && plan.breaking.length > 0) {
    lines.push('', 'apply would refuse these changes:');
    for (const change of plan.breaking) lines.push(`  breaking: ${describeBreakingChange(change)}`);
  }
  if (plan.refusedConnectors !== undefined && plan.refusedConnectors.length > 0) {
    lines.push('', 'apply would refuse these connectors: their Connect worker refused the config:');
    for (const refusal of plan.refusedConnectors) {
      lines.push(`  connector ${refusal.name} (${refusal.connectorClass} on worker ${refusal.worker}):`);
      for (const error of refusal.errors) lines.push(`    ${error.field}: ${error.messages.join(' / ')}`);
    }
  }
  return lines.join('\n');
}

export function table(head: string[], rows: Array<Array<string | number>>): string {
  const rendered = new Table({ head, style: { head: [], border: [] } });
  rendered.push(...rows.map((row) => row.map(String)));
  return rendered.toString();
}

export function isoMicros(micros: number): string {
  return new Date(Math.floor(micros / 1000)).toISOString();
}
