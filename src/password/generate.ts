/**
 * The password generator. Passwords come only from node:crypto (docs/design.md section 8 and the style
 * anchors: Square's rotator seeded math/rand from the clock).
 *
 * Why not generate-password: its `strict` mode builds an unescaped RegExp from the symbol set
 * (`-`, `^`, `]` misbehave) and its non-strict mode guarantees no class at all. crypto.randomInt is
 * already uniform (rejection sampling), so the whole generator is a few lines we can reason about.
 *
 * Uniformity: each character is drawn uniformly from the full alphabet, and a password missing a
 * class is thrown away whole and drawn again. Conditioning a uniform draw on an event is uniform
 * on that event, so every valid password is equally likely. (Forcing one character of each class
 * into place and shuffling is not uniform: it favours passwords with few symbols and digits.)
 */
import { randomInt } from 'node:crypto';
import { ERROR_CODE } from '../error-codes.ts';
import { RotatorError } from '../errors.ts';
import type { PasswordPolicy } from '../config/types.ts';
import { assertValidPolicy, CHARACTER_CLASSES, satisfiesPolicy } from './policy.ts';

export interface GenerateDeps {
  /** A uniform integer in [0, max). Default crypto.randomInt; tests inject sequences. */
  randomInt?: (max: number) => number;
}

/**
 * Draws before giving up. The worst valid policy (8 characters, one symbol) yields a valid draw
 * about 1 time in 9, so 1,000 draws fail with probability below 1e-50: hitting the bound means
 * the random source is broken, not bad luck.
 */
export const MAX_DRAWS = 1_000;

/** The alphabet passwords are drawn from: lower, upper, digits, then the policy's symbols. */
export function alphabetOf(policy: PasswordPolicy): string {
  return CHARACTER_CLASSES.lower + CHARACTER_CLASSES.upper + CHARACTER_CLASSES.digit + policy.symbols;
}

/**
 * A fresh password meeting `policy` (see satisfiesPolicy), uniform over all such passwords.
 * Throws PasswordPolicyError for a bad policy, and RotatorError ERROR_CODE.passwordGenerationFailed when
 * the random source misbehaves. The password is never part of an error message.
 */
export function generatePassword(policy: PasswordPolicy, deps: GenerateDeps = {}): string {
  const valid = assertValidPolicy(policy);
  const alphabet = alphabetOf(valid);
  const draw = deps.randomInt ?? randomInt;
  for (let attempt = 0; attempt < MAX_DRAWS; attempt += 1) {
    let password = '';
    for (let position = 0; position < valid.length; position += 1) {
      const index = draw(alphabet.length);
      const char = Number.isInteger(index) ? alphabet[index] : undefined;
      if (char === undefined) {
        throw new RotatorError(ERROR_CODE.passwordGenerationFailed, `random source returned an index outside [0, ${alphabet.length})`);
      }
      password += char;
    }
    // Rejection of the whole password keeps the distribution uniform over valid outputs.
    if (satisfiesPolicy(password, valid)) return password;
  }
  throw new RotatorError(ERROR_CODE.passwordGenerationFailed, `no password met the policy in ${MAX_DRAWS} draws: the random source is not random`);
}
