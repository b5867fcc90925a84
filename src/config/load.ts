/**
 * Loading a configuration file: read, parse YAML, reject duplicate keys, expand `${ENV}`, validate
 * and default with zod, freeze. Every problem of one stage is reported at once, with its key path.
 */
import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { ConfigError, formatPath, type ConfigIssue } from './errors.ts';
import { expandEnv, type Env } from './expand-env.ts';
import { parseYaml } from './parse-yaml.ts';
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
 * 1. YAML (./parse-yaml.ts): syntax; duplicate keys in any mapping (YAML's "last one wins" would
 *    hide the first value); keys named `__proto__`; aliases expanding beyond a linear bound. Then
 *    a mapping at the top.
 * 2. Environment expansion in string scalars (./expand-env.ts).
 * 3. Schema: types, ranges, unknown keys, defaults; then references between keys (./schema.ts).
 */
export function parseConfig(text: string, env: Env = process.env, sourceName = 'config'): Config {
  // The parsed YAML is a temporary: only its expanded copy lives on while zod builds the Config.
  const expanded = expandEnv(readMapping(text, sourceName), env);
  if (expanded.issues.length > 0) throw new ConfigError(sourceName, expanded.issues);

  const result = configSchema.safeParse(expanded.value);
  if (!result.success) {
    throw new ConfigError(sourceName, toIssues(result.error.issues, expanded.value, expanded.unset));
  }
  return deepFreeze(result.data);
}

/** Stage 1: the file's YAML, which must be a mapping at the top. */
function readMapping(text: string, sourceName: string): object {
  const parsed = parseYaml(text);
  if (!parsed.ok) throw new ConfigError(sourceName, parsed.issues);
  if (parsed.value === null || parsed.value === undefined) throw new ConfigError(sourceName, [{ path: '', message: 'the file is empty' }]);
  if (typeof parsed.value !== 'object' || Array.isArray(parsed.value)) {
    throw new ConfigError(sourceName, [{ path: '', message: 'the top level must be a mapping of keys' }]);
  }
  return parsed.value;
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
