import Table from 'cli-table3';
import type { FieldDifference, Plan, PlanItem } from '@featurelog/domain';

/** Everything a command prints goes through here, so `--json` and the readable form never disagree on content. */
export interface Output {
  json: boolean;
  print(text: string): void;
  data(value: unknown): void;
}

export function consoleOutput(json: boolean): Output {
  return {
    json,
    print: (text) => void (json || process.stdout.write(`${text}\n`)),
    data: (value) => void (json && process.stdout.write(`${JSON.stringify(value, null, 2)}\n`)),
  };
}

const SYMBOL: Record<PlanItem['action'], string> = { create: '+', update: '~', delete: '-', unchanged: '=' };

function show(value: unknown): string {
  return value === undefined ? '(absent)' : JSON.stringify(value);
}

function differenceLine(difference: FieldDifference): string {
  const scope = difference.touchesData ? 'data' : 'metadata';
  return `      ${difference.path}: ${show(difference.before)} → ${show(difference.after)}  (${scope})`;
}

/** A plan as people read it: one line per object, then its field-level differences. */
export function renderPlan(plan: Plan, project: string): string {
  const lines = [`Plan for project ${project}, against registry version ${plan.basedOnVersion}:`, ''];
  for (const item of plan.items) {
    const label = `${SYMBOL[item.action]} ${item.kind} ${item.name}`.padEnd(48);
    let note: string = item.action;
    if (item.action === 'delete' && !item.willApply) note = 'delete (only with --prune)';
    else if (item.action !== 'unchanged')
      note += item.touchesData ? ' (touches data: topic/schema)' : ' (metadata only)';
    lines.push(`  ${label} ${note}`);
    if (item.action === 'update') lines.push(...item.differences.map(differenceLine));
  }
  const count = (action: PlanItem['action'], applied = true) =>
    plan.items.filter((item) => item.action === action && (!applied || item.willApply)).length;
  const skippedDeletes = count('delete', false) - count('delete');
  lines.push(
    '',
    `${count('create')} to create, ${count('update')} to update, ${count('delete')} to delete, ${count('unchanged')} unchanged` +
      (skippedDeletes > 0 ? `; ${skippedDeletes} removed from the files but kept (apply --prune deletes them).` : '.'),
  );
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
