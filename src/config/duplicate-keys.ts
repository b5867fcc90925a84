/**
 * The full duplicate-key report, computed only for a file that has a duplicate key (the main
 * parser, js-yaml, stops at the first one and names neither its key path nor where the key was
 * first defined).
 *
 * It walks a `yaml` Document, which keeps every pair and its source range: exact, but about 100
 * bytes of heap per byte of YAML (a 2.2 MB file of 10,000 credentials needs more than 96 MB).
 * When that does not fit in the heap left, the report is the one duplicate js-yaml found, so a
 * worker with a small heap still exits with a config error instead of running out of memory.
 */
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { formatPath, type ConfigIssue } from './errors.ts';

/** Heap the `yaml` Document takes per byte of YAML, rounded up (measured 70-90 with yaml 2.9). */
export const REPORT_HEAP_BYTES_PER_YAML_BYTE = 100;

/** Where js-yaml found the first duplicate: 1-based, as editors count. */
export interface FirstDuplicate {
  line: number;
  column: number;
}

/**
 * Every key that appears twice in one mapping, at any depth, with the line of its first use, and
 * every `__proto__` key, in file order. `heapAvailableBytes` is what the process may still
 * allocate (the loader passes v8's heap limit minus the heap in use).
 *
 * Cases:
 * 1. The Document would not fit in `heapAvailableBytes`: the first duplicate only, by position.
 * 2. `yaml` disagrees with js-yaml (it finds a syntax error, or no duplicate, e.g. for a complex
 *    key the two stringify differently): the first duplicate only, by position.
 * 3. Otherwise: the full report.
 */
export function duplicateKeyIssues(text: string, first: FirstDuplicate, heapAvailableBytes: number): ConfigIssue[] {
  const firstOnly = (why: string): ConfigIssue[] => [{ path: '', message: `duplicate key at line ${first.line}, column ${first.column} (${why})` }];
  if (text.length * REPORT_HEAP_BYTES_PER_YAML_BYTE > heapAvailableBytes) {
    return firstOnly('the first one; the file is too large to list them all within this heap: run config check with more heap for the full list'); // Case 1.
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: false, prettyErrors: false, lineCounter });
  const issues = doc.errors.length === 0 ? keyProblems(doc.contents, [], lineCounter) : [];
  return issues.length > 0 ? issues : firstOnly('the first one'); // Case 3, else case 2.
}

function keyProblems(node: YamlNode | null, path: readonly PropertyKey[], lineCounter: LineCounter): ConfigIssue[] {
  if (node === null || isAlias(node) || isScalar(node)) return [];
  const issues: ConfigIssue[] = [];
  if (isSeq(node)) {
    node.items.forEach((item, index) => {
      if (isMap(item) || isSeq(item)) issues.push(...keyProblems(item, [...path, index], lineCounter));
    });
    return issues;
  }
  if (!isMap(node)) return issues;
  const firstLines = new Map<string, number>();
  for (const pair of node.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    const line = isScalar(pair.key) && pair.key.range ? lineCounter.linePos(pair.key.range[0]).line : 0;
    const seen = firstLines.get(key);
    if (key === '__proto__') {
      issues.push({ path: formatPath([...path, key]), message: 'reserved key name' });
    } else if (seen !== undefined) {
      issues.push({ path: formatPath([...path, key]), message: `duplicate key (first defined on line ${seen})` });
    } else firstLines.set(key, line);
    if (isMap(pair.value) || isSeq(pair.value)) issues.push(...keyProblems(pair.value, [...path, key], lineCounter));
  }
  return issues;
}
