import { describe, expect, it } from 'vitest';
import type { PasswordPolicy } from '../src/config/types.ts';
import { alphabetOf, generatePassword, MAX_DRAWS } from '../src/password/generate.ts';
import { assertValidPolicy, CHARACTER_CLASSES, PasswordPolicyError, policyProblems, satisfiesPolicy } from '../src/password/policy.ts';
import { RotatorError } from '../src/errors.ts';

const DEFAULT_POLICY: PasswordPolicy = { length: 32, symbols: '!#%*+-=?@^_~' };

/**
 * The chi-square critical value for `df` degrees of freedom at p = 0.001, by the Wilson-Hilferty
 * approximation (relative error well under 1% for df > 30; z = 3.0902 is the 0.999 normal quantile).
 */
function chiSquareCritical001(df: number): number {
  const z = 3.090232;
  const a = 2 / (9 * df);
  return df * (1 - a + z * Math.sqrt(a)) ** 3;
}

/**
 * The exact probability that position 1 of a password drawn uniformly from the valid passwords
 * is `char`, for each character of the alphabet, by inclusion-exclusion over the classes a
 * password misses. For long passwords it is almost 1/n; for short ones, characters of small
 * classes (symbols, digits) are noticeably more likely, because every valid password holds one.
 */
function exactCharacterProbabilities(policy: PasswordPolicy): Map<string, number> {
  const classes = [CHARACTER_CLASSES.lower, CHARACTER_CLASSES.upper, CHARACTER_CLASSES.digit, policy.symbols];
  const n = classes.reduce((sum, chars) => sum + chars.length, 0);
  /** P(a uniform string of `length` over the alphabet contains every class in `required`). */
  const coverage = (required: string[], length: number): number => {
    let total = 0;
    for (let mask = 0; mask < 1 << required.length; mask += 1) {
      let missing = 0;
      let bits = 0;
      required.forEach((chars, index) => {
        if (mask & (1 << index)) {
          missing += chars.length;
          bits += 1;
        }
      });
      total += (bits % 2 === 0 ? 1 : -1) * ((n - missing) / n) ** length;
    }
    return total;
  };
  const valid = coverage(classes, policy.length);
  const probabilities = new Map<string, number>();
  for (const chars of classes) {
    const others = classes.filter((other) => other !== chars);
    const p = ((1 / n) * coverage(others, policy.length - 1)) / valid;
    for (const char of chars) probabilities.set(char, p);
  }
  return probabilities;
}

/** Chi-square statistic of the characters of `count` generated passwords against the exact law. */
function chiSquare(policy: PasswordPolicy, count: number): { statistic: number; critical: number; characters: number } {
  const expected = exactCharacterProbabilities(policy);
  const observed = new Map<string, number>([...expected.keys()].map((char) => [char, 0]));
  for (let i = 0; i < count; i += 1) {
    for (const char of generatePassword(policy)) observed.set(char, (observed.get(char) ?? 0) + 1);
  }
  const characters = count * policy.length;
  let statistic = 0;
  for (const [char, probability] of expected) {
    const e = probability * characters;
    statistic += ((observed.get(char) ?? 0) - e) ** 2 / e;
  }
  return { statistic, critical: chiSquareCritical001(expected.size - 1), characters };
}

describe('password policy', () => {
  describe('satisfiesPolicy', () => {
    const policy: PasswordPolicy = { length: 8, symbols: '!#' };

    it('accepts a password with all four classes at the exact length', () => {
      expect(satisfiesPolicy('aB3!aaaa', policy)).toBe(true);
      expect(satisfiesPolicy('#Zz9zzzz', policy)).toBe(true);
    });

    it('refuses a wrong length', () => {
      expect(satisfiesPolicy('aB3!aaa', policy)).toBe(false);
      expect(satisfiesPolicy('aB3!aaaaa', policy)).toBe(false);
    });

    it('refuses a password missing any one class', () => {
      expect(satisfiesPolicy('AB3!AAAA', policy)).toBe(false); // no lower
      expect(satisfiesPolicy('ab3!aaaa', policy)).toBe(false); // no upper
      expect(satisfiesPolicy('aBc!aaaa', policy)).toBe(false); // no digit
      expect(satisfiesPolicy('aB3aaaaa', policy)).toBe(false); // no symbol
    });

    it('refuses symbols outside the policy set, whitespace and non-ASCII', () => {
      expect(satisfiesPolicy('aB3!aaa%', policy)).toBe(false);
      expect(satisfiesPolicy('aB3!aaa:', policy)).toBe(false);
      expect(satisfiesPolicy('aB3!aa a', policy)).toBe(false);
      expect(satisfiesPolicy('aB3!aaaé', policy)).toBe(false);
      expect(satisfiesPolicy('aB3!aaa\u0000', policy)).toBe(false);
      expect(satisfiesPolicy('aB3!aa😀', { length: 8, symbols: '!' })).toBe(false);
    });
  });

  describe('policy validation', () => {
    it('accepts the default policy and the limits', () => {
      expect(policyProblems(DEFAULT_POLICY)).toEqual([]);
      expect(assertValidPolicy({ length: 8, symbols: '-' })).toEqual({ length: 8, symbols: '-' });
      expect(assertValidPolicy({ length: 64, symbols: '^]-[' })).toEqual({ length: 64, symbols: '^]-[' });
    });

    it.each([
      [{ length: 7, symbols: '!' }, 'length: must be an integer from 8 to 64'],
      [{ length: 65, symbols: '!' }, 'length: must be an integer from 8 to 64'],
      [{ length: 12.5, symbols: '!' }, 'length: must be an integer from 8 to 64'],
      [{ length: 16, symbols: '' }, 'symbols: must not be empty: passwords need at least one symbol'],
      [{ length: 16, symbols: '!!' }, 'symbols: must not repeat "!": a repeated symbol would be drawn more often'],
      [{ length: 16, symbols: '!:' }, 'symbols: must not contain ":": it separates user and password in "user:password" tokens'],
      [{ length: 16, symbols: '"' }, 'symbols: must not contain "\\"": quotes break quoting in shells and config files'],
      [{ length: 16, symbols: '\\' }, 'symbols: must not contain "\\\\": backslash is an escape character almost everywhere'],
      [{ length: 16, symbols: '! ' }, 'symbols: must not contain whitespace (U+0020)'],
      [{ length: 16, symbols: '!\u007f' }, 'symbols: must be printable ASCII (U+007F is not)'],
      [{ length: 16, symbols: '!a' }, 'symbols: must not contain letters or digits ("a")'],
      [{ length: 16, symbols: '!', extra: true }, 'extra: unknown key'],
      [{ symbols: '!' }, 'length: must be an integer from 8 to 64'],
    ])('refuses %j with a clear reason', (policy, problem) => {
      expect(policyProblems(policy)).toEqual([problem]);
      expect(() => assertValidPolicy(policy)).toThrow(PasswordPolicyError);
      try {
        assertValidPolicy(policy);
      } catch (error) {
        expect((error as PasswordPolicyError).code).toBe('ROTATOR_PASSWORD_POLICY_INVALID');
        expect((error as PasswordPolicyError).message).toBe(`invalid password policy: ${problem}`);
      }
    });

    it('refuses a policy that is not an object', () => {
      expect(() => assertValidPolicy(null)).toThrow('invalid password policy: must be a mapping');
    });
  });
});

describe('generatePassword', () => {
  it('generates 10,000 passwords that all satisfy the default policy, all different', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 10_000; i += 1) {
      const password = generatePassword(DEFAULT_POLICY);
      expect(password).toHaveLength(32);
      if (!satisfiesPolicy(password, DEFAULT_POLICY)) throw new Error(`password ${i} breaks the policy`);
      seen.add(password);
    }
    expect(seen.size).toBe(10_000);
  });

  it('handles regex metacharacters and the shortest policy (-, ^, ], [ as the only symbols, length 8)', () => {
    const policy: PasswordPolicy = { length: 8, symbols: '-^][' };
    const symbolsSeen = new Set<string>();
    for (let i = 0; i < 10_000; i += 1) {
      const password = generatePassword(policy);
      if (!satisfiesPolicy(password, policy)) throw new Error(`password ${i} breaks the policy`);
      for (const char of password) if (policy.symbols.includes(char)) symbolsSeen.add(char);
    }
    expect([...symbolsSeen].sort()).toEqual(['-', '[', ']', '^']);
  });

  it('draws each character uniformly from the full pool (chi-square, 200k characters, length 32, p = 0.001)', () => {
    const { statistic, critical, characters } = chiSquare(DEFAULT_POLICY, 6_250);
    expect(characters).toBe(200_000);
    // 74 characters, 73 degrees of freedom: the critical value is about 117.6.
    expect(critical).toBeGreaterThan(116);
    expect(critical).toBeLessThan(119);
    expect(statistic).toBeLessThan(critical);
  });

  it('is uniform over valid passwords even when class rejection matters (length 8, exact expected law)', () => {
    // With 8 characters a valid password holds at least one of 3 symbols, so each symbol is far
    // more frequent than 1/65. Forced placement and shuffling would get these frequencies wrong.
    const policy: PasswordPolicy = { length: 8, symbols: '!#%' };
    const probabilities = exactCharacterProbabilities(policy);
    expect([...probabilities.values()].reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(probabilities.get('!')).toBeGreaterThan(1.5 / 65);
    const { statistic, critical } = chiSquare(policy, 25_000);
    expect(statistic).toBeLessThan(critical);
  });

  it('redraws the whole password when a class is missing', () => {
    // alphabet: a-z (0-25), A-Z (26-51), 0-9 (52-61), then "!" (62).
    const draws = [0, 1, 2, 3, 4, 5, 6, 7, /* no class but lower: rejected */ 0, 26, 52, 62, 1, 27, 53, 62];
    const calls: number[] = [];
    const password = generatePassword({ length: 8, symbols: '!' }, {
      randomInt: (max) => {
        calls.push(max);
        const next = draws.shift();
        if (next === undefined) throw new Error('out of draws');
        return next;
      },
    });
    expect(password).toBe('aA0!bB1!');
    expect(calls).toEqual(Array<number>(16).fill(63));
  });

  it('gives up with a clear error when the random source is broken', () => {
    expect(() => generatePassword(DEFAULT_POLICY, { randomInt: () => 0 })).toThrow(`no password met the policy in ${MAX_DRAWS} draws`);
    expect(() => generatePassword(DEFAULT_POLICY, { randomInt: (max) => max })).toThrow(RotatorError);
    expect(() => generatePassword(DEFAULT_POLICY, { randomInt: () => 0.5 })).toThrow('random source returned an index outside [0, 74)');
  });

  it('refuses a bad policy before drawing anything', () => {
    let drawn = 0;
    const randomInt = (max: number): number => {
      drawn += 1;
      return max - 1;
    };
    expect(() => generatePassword({ length: 8, symbols: '' }, { randomInt })).toThrow(PasswordPolicyError);
    expect(() => generatePassword({ length: 100, symbols: '!' }, { randomInt })).toThrow('invalid password policy: length: must be an integer from 8 to 64');
    expect(drawn).toBe(0);
  });

  it('uses lower, upper, digits and the policy symbols as its alphabet', () => {
    expect(alphabetOf({ length: 8, symbols: '!#' })).toBe(`${CHARACTER_CLASSES.lower}${CHARACTER_CLASSES.upper}${CHARACTER_CLASSES.digit}!#`);
  });
});
