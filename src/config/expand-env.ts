import { formatPath, type ConfigIssue } from './errors.ts';

/** The environment to expand from: `process.env` in production, a plain object in tests. */
export type Env = Readonly<Record<string, string | undefined>>;

export interface ExpandResult {
  /** The input with every string scalar expanded; absent scalars removed (see expandEnv). */
  value: unknown;
  /** References that could not be expanded (unset variable inside a longer string, bad syntax). */
  issues: ConfigIssue[];
  /**
   * Formatted key path -> names of the unset variables that made it absent. For a list item the
   * path is the list's, since the item is dropped. The loader uses it to say which variable a
   * "required" error is really about.
   */
  unset: ReadonlyMap<string, readonly string[]>;
}

/** What one string scalar expands to. */
type ScalarExpansion =
  | { kind: 'value'; value: string }
  /** The scalar was exactly `${VAR}` and VAR is unset: treated as if the key were not written. */
  | { kind: 'absent'; variable: string }
  | { kind: 'error'; message: string };

const REFERENCE = /^([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?$/;

/**
 * Expands `${VAR}` and `${VAR:-default}` in one string. `$${` is a literal `${`. Results are never
 * expanded again, so a value from the environment cannot inject further references.
 *
 * Cases:
 * 1. VAR set: its value. With `:-`, an empty VAR takes the default (shell semantics).
 * 2. VAR unset, `:-default` given: the default.
 * 3. VAR unset, the scalar is exactly `${VAR}`: absent, so the schema's default applies or a
 *    required-key error names the variable. This is how `redis.url: ${REDIS_URL}` means "the default
 *    unless REDIS_URL is set".
 * 4. VAR unset inside a longer string: an error. Silently splicing in "" would build a wrong URL or
 *    secret id that might still look valid.
 */
export function expandString(text: string, env: Env): ScalarExpansion {
  // Most scalars refer to nothing: keep the string itself (building a copy char by char made a
  // chain of V8 cons strings per scalar, a fifth of the heap of loading a large fleet).
  if (!text.includes('$')) return { kind: 'value', value: text };
  let out = '';
  let i = 0;
  while (i < text.length) {
    if (text.startsWith('$${', i)) {
      out += '${';
      i += 3;
      continue;
    }
    if (!text.startsWith('${', i)) {
      out += text[i];
      i += 1;
      continue;
    }
    const close = text.indexOf('}', i + 2);
    if (close === -1) {
      return { kind: 'error', message: `unterminated \${ at character ${i + 1} (write $\${ for a literal \${)` };
    }
    const match = REFERENCE.exec(text.slice(i + 2, close));
    if (!match) {
      return {
        kind: 'error',
        message: `invalid variable reference at character ${i + 1}: expected \${NAME} or \${NAME:-default} (write $\${ for a literal \${)`,
      };
    }
    const name = match[1] ?? '';
    const fallback = match[2];
    const fromEnv = env[name];
    if (fromEnv !== undefined && !(fallback !== undefined && fromEnv === '')) {
      out += fromEnv; // Case 1.
    } else if (fallback !== undefined) {
      out += fallback; // Case 2.
    } else if (i === 0 && close === text.length - 1) {
      return { kind: 'absent', variable: name }; // Case 3.
    } else {
      return { kind: 'error', message: `environment variable ${name} is not set (write \${${name}:-default} to give a default)` }; // Case 4.
    }
    i = close + 1;
  }
  return { kind: 'value', value: out };
}

/**
 * Expands environment references in every string scalar of a parsed YAML value. Map keys, numbers
 * and booleans are left alone: only values written as strings are templates. A map entry whose
 * value is absent (case 3 of expandString) is removed; an absent list item is dropped.
 */
export function expandEnv(value: unknown, env: Env): ExpandResult {
  const issues: ConfigIssue[] = [];
  const unset = new Map<string, string[]>();
  const noteUnset = (path: readonly PropertyKey[], variable: string): void => {
    const key = formatPath(path);
    unset.set(key, [...(unset.get(key) ?? []), variable]);
  };

  const walk = (node: unknown, path: readonly PropertyKey[]): Walked => {
    if (typeof node === 'string') {
      const result = expandString(node, env);
      switch (result.kind) {
        case 'value':
          return { present: true, value: result.value };
        case 'absent':
          return { present: false, variable: result.variable };
        case 'error':
          issues.push({ path: formatPath(path), message: result.message });
          return { present: true, value: node };
        default: {
          const unreachable: never = result;
          return unreachable;
        }
      }
    }
    if (Array.isArray(node)) {
      const items: unknown[] = [];
      node.forEach((item: unknown, index) => {
        const expanded = walk(item, [...path, index]);
        if (expanded.present) items.push(expanded.value);
        else noteUnset(path, expanded.variable);
      });
      return { present: true, value: items };
    }
    if (isPlainObject(node)) {
      const entries: [string, unknown][] = [];
      for (const [key, child] of Object.entries(node)) {
        const expanded = walk(child, [...path, key]);
        if (expanded.present) entries.push([key, expanded.value]);
        else noteUnset([...path, key], expanded.variable);
      }
      // fromEntries defines own properties, so a key such as "__proto__" stays a plain key.
      return { present: true, value: Object.fromEntries(entries) };
    }
    return { present: true, value: node };
  };

  const root = walk(value, []);
  return { value: root.present ? root.value : undefined, issues, unset };
}

/** A walked node: its expanded value, or absent because of an unset variable. */
type Walked = { present: true; value: unknown } | { present: false; variable: string };

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
