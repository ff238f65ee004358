/** The registry's definitions as its API returns them (see libs/domain definitions.ts). */
export interface Described {
  name: string;
  description?: string;
  tags?: Record<string, string>;
  owner?: string;
}
export interface FeatureView extends Described {
  version: number;
  entities: string[];
  features: Array<{ name: string; type: unknown; description?: string; tags?: Record<string, string> }>;
  ttlSeconds: number;
  source?: string;
  online: boolean;
  offline: boolean;
  partitions?: number;
}
export interface Entity extends Described {
  joinKeys: Array<{ name: string; type: string }>;
}
export type DataSource = Described & { kind: string; topic?: string; path?: string; timestampField?: string };
export interface FeatureService extends Described {
  features: string[];
}
export type AnyDefinition = FeatureView | Entity | DataSource | FeatureService;

export interface ObjectVersion {
  offset: number;
  appliedAt: number;
  op: string;
  applyId: string;
  author?: string;
  definition?: AnyDefinition;
}

export const KINDS = [
  { segment: 'feature-views', kind: 'feature_view', label: 'Feature views', one: 'feature view' },
  { segment: 'entities', kind: 'entity', label: 'Entities', one: 'entity' },
  { segment: 'data-sources', kind: 'data_source', label: 'Data sources', one: 'data source' },
  { segment: 'feature-services', kind: 'feature_service', label: 'Feature services', one: 'feature service' },
] as const;
export type KindSegment = (typeof KINDS)[number]['segment'];

/** A view's managed topic (libs/domain topicNames.features). */
export function viewTopic(project: string, view: Pick<FeatureView, 'name' | 'version'>): string {
  return view.version > 1 ? `${project}.features.${view.name}.v${view.version}` : `${project}.features.${view.name}`;
}

export function typeName(type: unknown): string {
  if (typeof type === 'string') return type;
  if (type !== null && typeof type === 'object') {
    const value = type as Record<string, unknown>;
    if (typeof value.list === 'string' || typeof value.list === 'object') return `list<${typeName(value.list)}>`;
    if (typeof value.type === 'string') return value.type;
  }
  return JSON.stringify(type);
}

/** The text a search matches: name, owner, description, every tag as key=value. */
export function searchText(definition: AnyDefinition): string {
  const tags = Object.entries(definition.tags ?? {}).map(([key, value]) => `${key}=${value}`);
  return [definition.name, definition.owner ?? '', definition.description ?? '', ...tags].join('\n').toLowerCase();
}

/**
 * Whether a definition matches every word of the query. A word `owner:x` or `tag:k=v` (or `tag:k`)
 * looks in that field only; any other word anywhere (name, owner, description, tags).
 */
export function matches(definition: AnyDefinition, indexed: string, query: string): boolean {
  return query
    .toLowerCase()
    .split(/\s+/)
    .filter(Boolean)
    .every((word) => {
      if (word.startsWith('owner:')) return (definition.owner ?? '').toLowerCase().includes(word.slice(6));
      if (word.startsWith('tag:')) {
        const [key = '', value] = word.slice(4).split('=');
        return Object.entries(definition.tags ?? {}).some(
          ([k, v]) => k.toLowerCase() === key && (value === undefined || v.toLowerCase().includes(value)),
        );
      }
      if (word.startsWith('name:')) return definition.name.toLowerCase().includes(word.slice(5));
      return indexed.includes(word);
    });
}

/**
 * A line diff of two definitions as pretty JSON (keys sorted, so a reordering is no change): the
 * longest common subsequence of lines, each line kept, added or removed.
 */
export function diffLines(before: unknown, after: unknown): Array<{ op: ' ' | '+' | '-'; line: string }> {
  const a = before === undefined ? [] : stableJson(before).split('\n');
  const b = after === undefined ? [] : stableJson(after).split('\n');
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const out: Array<{ op: ' ' | '+' | '-'; line: string }> = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      out.push({ op: ' ', line: a[i]! });
      i++;
      j++;
    } else if (lcs[i + 1]![j]! >= lcs[i]![j + 1]!) out.push({ op: '-', line: a[i++]! });
    else out.push({ op: '+', line: b[j++]! });
  }
  while (i < a.length) out.push({ op: '-', line: a[i++]! });
  while (j < b.length) out.push({ op: '+', line: b[j++]! });
  return out;
}

export function stableJson(value: unknown): string {
  const sort = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(sort)
      : v !== null && typeof v === 'object'
        ? Object.fromEntries(
            Object.keys(v as object)
              .sort()
              .map((key) => [key, sort((v as Record<string, unknown>)[key])]),
          )
        : v;
  return JSON.stringify(sort(value), null, 2);
}

export type DiffLine = { op: ' ' | '+' | '-'; line: string } | { op: '…'; skipped: number };

/** The changed lines with `context` unchanged lines around each change; longer unchanged runs folded. */
export function foldUnchanged(lines: ReadonlyArray<{ op: ' ' | '+' | '-'; line: string }>, context = 3): DiffLine[] {
  const near = lines.map((_, i) =>
    lines.slice(Math.max(0, i - context), i + context + 1).some((line) => line.op !== ' '),
  );
  const out: DiffLine[] = [];
  lines.forEach((line, i) => {
    if (near[i] || line.op !== ' ') out.push(line);
    else {
      const last = out[out.length - 1];
      if (last?.op === '…') last.skipped++;
      else out.push({ op: '…', skipped: 1 });
    }
  });
  return out;
}
