/**
 * YAML text to a plain value, or every reason it cannot be one: the first stage of loading a
 * configuration (./load.ts) and what `config check` reads the raw file with (./check.ts).
 *
 * The parser is js-yaml with its YAML 1.2 core schema (docs/configuration.md, "YAML dialect"):
 * it builds plain objects directly, where a `yaml` Document took about 100 bytes of heap per byte
 * of YAML (10,000 credentials did not load in 128 MiB; now the whole load fits in 29 MiB,
 * bench/config-load). What it does not check is checked here, each in one linear pass over the
 * result.
 */
import { getHeapStatistics } from 'node:v8';
import { CORE_SCHEMA, load, YAMLException } from 'js-yaml';
import { duplicateKeyIssues } from './duplicate-keys.ts';
import { formatPath, type ConfigIssue } from './errors.ts';

export type YamlParse = { ok: true; value: unknown } | { ok: false; issues: ConfigIssue[] };

export interface ParseYamlDeps {
  /** Heap the process may still allocate, for the duplicate-key report (./duplicate-keys.ts). */
  heapAvailableBytes: () => number;
}

const DEFAULT_DEPS: ParseYamlDeps = {
  heapAvailableBytes: () => {
    const heap = getHeapStatistics();
    return heap.heap_size_limit - heap.used_heap_size;
  },
};

/**
 * Bounds on what aliases (`*name`) may add. js-yaml keeps an alias as a second reference to the
 * anchored value, so loading costs nothing; but ${VAR} expansion and zod walk the value as a tree,
 * in which each reference is a full copy: nine levels of nine aliases (a "billion laughs") are
 * 387 million nodes.
 */
export const ALIAS_LIMITS = {
  /** The expanded tree may have this many times the nodes written in the file... */
  expansionFactor: 10,
  /** ...or this many nodes, whichever is more (a small file may repeat a block many times). */
  minExpandedNodes: 100_000,
} as const;

/**
 * Parses `text` as one YAML document.
 *
 * Cases:
 * 1. Syntax error: "YAML syntax error at line L, column C: reason", never an excerpt of the file
 *    (js-yaml's `message` has one, and it could show a secret), and with names taken from the
 *    file (tags, aliases: an unquoted value starting with `!` or `*` is one) left out.
 * 2. A duplicate key: the full report of ./duplicate-keys.ts.
 * 3. A key named `__proto__`, anywhere: JavaScript objects (and zod's records) drop it silently.
 * 4. Aliases that expand the value beyond ALIAS_LIMITS, or an alias inside the node it refers to.
 */
export function parseYaml(text: string, deps: ParseYamlDeps = DEFAULT_DEPS): YamlParse {
  let value: unknown;
  try {
    value = load(text, { schema: CORE_SCHEMA });
  } catch (error) {
    if (!(error instanceof YAMLException)) throw error;
    const line = error.mark === undefined ? undefined : { line: error.mark.line + 1, column: error.mark.column + 1 };
    if (error.reason === 'duplicated mapping key' && line !== undefined) {
      return { ok: false, issues: duplicateKeyIssues(text, line, deps.heapAvailableBytes()) }; // Case 2.
    }
    const where = line === undefined ? '' : ` at line ${line.line}, column ${line.column}`;
    return { ok: false, issues: [{ path: '', message: `YAML syntax error${where}: ${withoutSourceText(error.reason)}` }] }; // Case 1.
  }
  const reserved = reservedKeyIssues(value);
  if (reserved.length > 0) return { ok: false, issues: reserved }; // Case 3.
  const expansion = aliasExpansionIssue(value);
  if (expansion !== undefined) return { ok: false, issues: [expansion] }; // Case 4.
  return { ok: true, value };
}

const NODE_KINDS = new Set(['scalar', 'sequence', 'mapping']);

/**
 * js-yaml's reason without the parts it copies from the file: quoted names (alias names, tag
 * handles), `!<tag>` and whatever follows `: ` (a malformed tag or prefix). Node kinds stay.
 */
export function withoutSourceText(reason: string): string {
  const line = reason.split('\n')[0] ?? '';
  const hint = /^(unknown tag|unidentified alias)/.test(line) ? ' (quote a value that starts with ! or *)' : '';
  return (
    line
      .replace(/: .*$/, '')
      .replace(/!<[^>]*>/g, '!<…>')
      .replace(/"([^"]*)"/g, (quoted, inner: string) => (NODE_KINDS.has(inner) ? quoted : '"…"')) + hint
  );
}

/** Every `__proto__` key, at the first path that reaches it (an aliased node is looked at once). */
function reservedKeyIssues(root: unknown): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const seen = new Set<object>();
  const walk = (node: unknown, path: readonly PropertyKey[]): void => {
    if (typeof node !== 'object' || node === null || seen.has(node)) return;
    seen.add(node);
    if (Array.isArray(node)) {
      node.forEach((item: unknown, index) => walk(item, [...path, index]));
      return;
    }
    for (const [key, child] of Object.entries(node)) {
      if (key === '__proto__') issues.push({ path: formatPath([...path, key]), message: 'reserved key name' });
      walk(child, [...path, key]);
    }
  };
  walk(root, []);
  return issues;
}

/**
 * The refusal of an alias bomb or a cyclic alias, or undefined. Counts, in one pass over the
 * value as js-yaml shares it, the nodes written (each mapping and list once, and each scalar in
 * them) and the nodes of the tree a walk sees (each reference counted again).
 */
export function aliasExpansionIssue(root: unknown): ConfigIssue | undefined {
  const expandedSizes = new Map<object, number>();
  const inProgress = new Set<object>();
  let written = 0;
  let cyclic = false;
  const expand = (node: unknown): number => {
    if (typeof node !== 'object' || node === null) return 1;
    const known = expandedSizes.get(node);
    if (known !== undefined) return known;
    if (inProgress.has(node)) {
      cyclic = true;
      return 0;
    }
    inProgress.add(node);
    written += 1;
    let size = 1;
    for (const child of Object.values(node)) {
      if (typeof child !== 'object' || child === null) written += 1;
      size += expand(child);
    }
    inProgress.delete(node);
    expandedSizes.set(node, size);
    return size;
  };
  const expanded = expand(root);
  if (cyclic) return { path: '', message: 'an alias (*name) refers to a mapping or list that contains it' };
  const limit = Math.max(ALIAS_LIMITS.minExpandedNodes, ALIAS_LIMITS.expansionFactor * written);
  if (expanded <= limit) return undefined;
  return {
    path: '',
    message: `aliases (*name) expand ${written} written nodes to ${expanded}, over the limit of ${limit} (${ALIAS_LIMITS.expansionFactor} times the nodes written, at least ${ALIAS_LIMITS.minExpandedNodes}): an alias bomb?`,
  };
}
