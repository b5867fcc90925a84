/**
 * Loading a configuration file: read, parse YAML, reject duplicate keys, expand `${ENV}`, validate
 * and default with zod, freeze. Every problem of one stage is reported at once, with its key path.
 */
import { readFileSync } from 'node:fs';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import type { z } from 'zod';
import { ConfigError, formatPath, type ConfigIssue } from './errors.ts';
import { expandEnv, type Env } from './expand-env.ts';
import { configSchema } from './schema.ts';
import type { Config } from './types.ts';

/**
 * Reads and validates the configuration file at `path`. Throws ConfigError (code
 * ERROR_CODE.configInvalid) listing every issue; the CLI turns it into exit code 2.
 */
export function loadConfig(path: string, env: Env = process.env): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const reason = error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : 'unreadable';
    throw new ConfigError(path, [{ path: '', message: `cannot read the file (${reason})` }], { cause: error });
  }
  return parseConfig(text, env, path);
}

/**
 * Validates configuration text. `sourceName` names the file in the error message.
 *
 * Stages, each reported in full before the next runs (a later stage cannot trust earlier input):
 * 1. YAML syntax, and a mapping at the top.
 * 2. Duplicate keys in any mapping: YAML's "last one wins" would hide the first value. A key
 *    named `__proto__` is refused too: JavaScript objects (and zod's records) drop it silently.
 * 3. Environment expansion in string scalars (./expand-env.ts).
 * 4. Schema: types, ranges, unknown keys, defaults; then references between keys (./schema.ts).
 */
export function parseConfig(text: string, env: Env = process.env, sourceName = 'config'): Config {
  const lineCounter = new LineCounter();
  // prettyErrors is off so that messages carry no source excerpt, which could show a secret.
  const doc = parseDocument(text, { uniqueKeys: false, prettyErrors: false, lineCounter });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      sourceName,
      doc.errors.map((error) => {
        const { line, col } = lineCounter.linePos(error.pos[0]);
        return { path: '', message: `YAML syntax error at line ${line}, column ${col}: ${firstLine(error.message)}` };
      }),
    );
  }
  if (!isMap(doc.contents)) {
    const message = doc.contents === null ? 'the file is empty' : 'the top level must be a mapping of keys';
    throw new ConfigError(sourceName, [{ path: '', message }]);
  }

  const badKeys = keyProblems(doc.contents, [], lineCounter);
  if (badKeys.length > 0) throw new ConfigError(sourceName, badKeys);

  const raw: unknown = doc.toJS({ maxAliasCount: 100 });
  const expanded = expandEnv(raw, env);
  if (expanded.issues.length > 0) throw new ConfigError(sourceName, expanded.issues);

  const result = configSchema.safeParse(expanded.value);
  if (!result.success) {
    throw new ConfigError(sourceName, toIssues(result.error.issues, expanded.value, expanded.unset));
  }
  return deepFreeze(result.data);
}

function firstLine(message: string): string {
  return (message.split('\n')[0] ?? message).replace(/:$/, '');
}

/**
 * Every key that appears twice in one mapping, at any depth, with the line of its first use; and
 * every `__proto__` key.
 */
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
    const first = firstLines.get(key);
    if (key === '__proto__') {
      issues.push({ path: formatPath([...path, key]), message: 'reserved key name' });
    } else if (first !== undefined) {
      issues.push({ path: formatPath([...path, key]), message: `duplicate key (first defined on line ${first})` });
    } else firstLines.set(key, line);
    if (isMap(pair.value) || isSeq(pair.value)) issues.push(...keyProblems(pair.value, [...path, key], lineCounter));
  }
  return issues;
}

/**
 * zod issues as ConfigIssues: one per unknown key, "required" for a missing key (naming the
 * variable when an unset `${VAR}` made it missing), nested messages for bad map keys.
 */
function toIssues(zodIssues: readonly z.core.$ZodIssue[], input: unknown, unset: ReadonlyMap<string, readonly string[]>): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const issue of zodIssues) {
    const path = formatPath(issue.path);
    const variables = unset.get(path);
    const variableNote = variables === undefined ? '' : ` (environment variable ${variables.join(', ')} is not set)`;
    switch (issue.code) {
      case 'unrecognized_keys':
        for (const key of issue.keys) issues.push({ path: formatPath([...issue.path, key]), message: issue.message });
        break;
      case 'invalid_key':
        issues.push({ path, message: issue.issues[0]?.message ?? issue.message });
        break;
      case 'invalid_type':
        if (valueAt(input, issue.path) === undefined) {
          issues.push({ path, message: variables === undefined ? 'required' : `required, but environment variable ${variables.join(', ')} is not set` });
        } else issues.push({ path, message: issue.message });
        break;
      default:
        issues.push({ path, message: issue.message + variableNote });
    }
  }
  return issues;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let node = root;
  for (const segment of path) {
    if (typeof node !== 'object' || node === null || !Object.hasOwn(node, segment)) return undefined;
    node = (node as Record<PropertyKey, unknown>)[segment];
  }
  return node;
}

/** Freezes `value` and everything reachable from it, so no consumer can change the shared config. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
