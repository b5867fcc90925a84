/**
 * Password policies: what a generated password must look like (docs/design.md section 4). The rules fit
 * both Milvus (6-72 bytes) and Zilliz Cloud (8-64 characters, three of four classes): ASCII,
 * 8-64 characters, all four classes, symbols from a safe set only.
 */
import { ERROR_CODE } from '../error-codes.ts';
import { RotatorError } from '../errors.ts';
import { formatIssue, formatPath } from '../config/errors.ts';
import { passwordPolicySchema } from '../config/schema.ts';
import type { PasswordPolicy } from '../config/types.ts';
import type { z } from 'zod';

export type { PasswordPolicy };

/** The three fixed classes; the fourth, symbols, comes from the policy. */
export const CHARACTER_CLASSES = {
  lower: 'abcdefghijklmnopqrstuvwxyz',
  upper: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ',
  digit: '0123456789',
} as const;

export type CharacterClass = keyof typeof CHARACTER_CLASSES | 'symbol';

/** A policy that cannot produce acceptable passwords. The message lists every reason. */
export class PasswordPolicyError extends RotatorError {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(ERROR_CODE.passwordPolicyInvalid, `invalid password policy: ${problems.join('; ')}`);
    this.problems = Object.freeze([...problems]);
  }
}

/**
 * Every reason `policy` is unusable, empty when it is fine. The rules are those of the config
 * schema (src/config/schema.ts), so a policy from a loaded Config always passes; this exists for
 * policies built in code and as a guard in the generator.
 */
export function policyProblems(policy: unknown): string[] {
  const result = passwordPolicySchema.safeParse(policy);
  return result.success ? [] : describe(result.error.issues);
}

/** Returns the policy (a fresh copy) when valid; throws PasswordPolicyError otherwise. */
export function assertValidPolicy(policy: unknown): PasswordPolicy {
  const result = passwordPolicySchema.safeParse(policy);
  if (!result.success) throw new PasswordPolicyError(describe(result.error.issues));
  return result.data;
}

function describe(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => `${key}: unknown key`);
    return [formatIssue({ path: formatPath(issue.path), message: issue.message })];
  });
}

/** The class a character belongs to under `symbols`, or undefined when it is outside the alphabet. */
export function classOf(char: string, symbols: string): CharacterClass | undefined {
  if (CHARACTER_CLASSES.lower.includes(char)) return 'lower';
  if (CHARACTER_CLASSES.upper.includes(char)) return 'upper';
  if (CHARACTER_CLASSES.digit.includes(char)) return 'digit';
  if (char.length === 1 && symbols.includes(char)) return 'symbol';
  return undefined;
}

/**
 * Whether `password` meets `policy`: exactly `policy.length` characters, each a lower-case or
 * upper-case ASCII letter, a digit or one of `policy.symbols`, with at least one of each of the
 * four classes. (Anything outside that alphabet, including non-ASCII, fails.)
 */
export function satisfiesPolicy(password: string, policy: PasswordPolicy): boolean {
  if (password.length !== policy.length) return false;
  const seen = new Set<CharacterClass>();
  for (const char of password) {
    const kind = classOf(char, policy.symbols);
    if (kind === undefined) return false;
    seen.add(kind);
  }
  return seen.size === 4;
}
