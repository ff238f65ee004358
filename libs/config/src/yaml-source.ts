import { isAlias, isMap, isScalar, isSeq, LineCounter, parseAllDocuments, visit, type Document } from 'yaml';

/** One YAML document of a file, with what is needed to point at a line in it. */
export interface YamlDocument {
  file: string;
  document: Document;
  lineCounter: LineCounter;
  /** The document as plain data (aliases expanded). */
  value: unknown;
}

export interface YamlSyntaxProblem {
  file: string;
  line: number;
  column: number;
  message: string;
}

/** Every document of a YAML text (empty ones dropped), and every syntax error with its line. */
export function parseYamlDocuments(
  text: string,
  file: string,
): { documents: YamlDocument[]; syntax: YamlSyntaxProblem[] } {
  const lineCounter = new LineCounter();
  const parsed = parseAllDocuments(text, { lineCounter, prettyErrors: false });
  const documents: YamlDocument[] = [];
  const syntax: YamlSyntaxProblem[] = [];
  for (const document of Array.isArray(parsed) ? parsed : []) {
    for (const error of document.errors) {
      const { line, col } = lineCounter.linePos(error.pos[0]);
      syntax.push({ file, line, column: col, message: error.message.split('\n')[0]! });
    }
    // A document of only comments (or `---` at the end) holds nothing.
    const empty = document.contents === null || (isScalar(document.contents) && document.contents.value === null);
    if (document.errors.length > 0 || empty) continue;
    let value: unknown;
    try {
      value = document.toJS();
    } catch (error) {
      // The yaml library refuses to expand more than its alias budget (an alias bomb, "billion laughs"):
      // a problem of this file, at its first alias, like any syntax error, not an unexpected error.
      const { line, col } = lineCounter.linePos(firstAliasOffset(document) ?? 0);
      syntax.push({
        file,
        line,
        column: col,
        message: `cannot expand the YAML aliases (*name) of this document: ${(error as Error).message}`,
      });
      continue;
    }
    documents.push({ file, document, lineCounter, value });
  }
  return { documents, syntax };
}

function firstAliasOffset(document: Document): number | undefined {
  let offset: number | undefined;
  visit(document, {
    Alias(_, node) {
      if (!isAlias(node)) return undefined;
      offset = rangeStart(node);
      return visit.BREAK;
    },
  });
  return offset;
}

/**
 * Line and column (1-based) of the value at `path` in the document: for a mapping member the line of its
 * key, for a list item the item; when the path does not exist (a missing field), its nearest existing parent.
 */
export function locate(source: YamlDocument, path: ReadonlyArray<string | number>): { line: number; column: number } {
  let node: unknown = source.document.contents;
  let offset = rangeStart(node) ?? 0;
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(segment));
      if (!pair) break;
      offset = rangeStart(pair.key) ?? offset;
      node = pair.value;
    } else if (isSeq(node)) {
      const item: unknown = node.items[Number(segment)];
      if (item === undefined) break;
      offset = rangeStart(item) ?? offset;
      node = item;
    } else {
      break;
    }
  }
  const { line, col } = source.lineCounter.linePos(offset);
  return { line, column: col };
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as { range?: [number, number, number] } | null)?.range;
  return range?.[0];
}
