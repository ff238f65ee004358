import { isMap, isScalar, isSeq, LineCounter, parseAllDocuments, type Document } from 'yaml';

/** One YAML document of a file, with what is needed to point at a line in it. */
export interface YamlDocument {
  file: string;
  document: Document;
  lineCounter: LineCounter;
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
    if (document.errors.length === 0 && !empty) documents.push({ file, document, lineCounter });
  }
  return { documents, syntax };
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
