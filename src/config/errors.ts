import { ERROR_CODE } from '../error-codes.ts';
import { RotatorError } from '../errors.ts';

/** One reason a configuration file is refused. */
export interface ConfigIssue {
  /**
   * Where, as a key path: `credentials.app-reader.clusters[1]`. Empty for problems of the file as
   * a whole (unreadable, not YAML, empty).
   */
  path: string;
  /** Why, in words. Never contains a secret value: it may be printed, logged or stored. */
  message: string;
}

/**
 * A configuration file was refused before anything ran. Carries every issue found, so an operator
 * fixes the file in one pass rather than one error per run. Code ERROR_CODE.configInvalid (exit code 2
 * in the CLI).
 */
export class ConfigError extends RotatorError {
  /** Every problem found, in file order where known. */
  readonly issues: readonly ConfigIssue[];
  /** The file (or other source) that was refused, as given to the loader. */
  readonly source: string;

  constructor(source: string, issues: readonly ConfigIssue[], options?: ErrorOptions) {
    super(ERROR_CODE.configInvalid, `${source}: invalid configuration:\n${issues.map((issue) => `  ${formatIssue(issue)}`).join('\n')}`, options);
    this.source = source;
    this.issues = Object.freeze(issues.map((issue) => Object.freeze({ ...issue })));
  }
}

/** `path: message`, or just the message for issues of the whole file. */
export function formatIssue(issue: ConfigIssue): string {
  return issue.path === '' ? issue.message : `${issue.path}: ${issue.message}`;
}

/** Map keys that print as `.key`; anything else prints as `["key"]` so the path stays unambiguous. */
const PLAIN_KEY = /^[A-Za-z0-9_-]+$/;

/**
 * Formats a path as operators read it in the YAML: keys joined with dots, list indexes in
 * brackets (`credentials.app-reader.clusters[1]`).
 */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else {
      const key = String(segment);
      if (PLAIN_KEY.test(key)) out += out === '' ? key : `.${key}`;
      else out += `[${JSON.stringify(key)}]`;
    }
  }
  return out;
}
