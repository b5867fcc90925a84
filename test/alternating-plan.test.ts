import { describe, expect, it } from 'vitest';
import { decideAlternating, graceStartsAt, leakNeedsSecondTurn, roleDifference, secondRotationId, type AlternatingFacts } from '../src/rotation/alternating-plan.ts';
import { MODE, type Mode } from '../src/rotation/types.ts';

/**
 * The alternating strategy's decisions without I/O: every labelled case of decideAlternating,
 * then every combination of its inputs against the rules that must hold whatever the input.
 */

const R = '11111111-1111-4111-8111-111111111111';
const R2 = secondRotationId(R);
const NOW = Date.UTC(2026, 11, 1, 12);
const HOUR = 3_600_000;
const MINUTE = 60_000;

/** AWSCURRENT as load reads it; AWSPENDING on it by default (the engine's state after a promotion). */
function cur(versionId: string, username: string, createdAt: number | null, carriesPending = true): AlternatingFacts['current'] {
  return { versionId, username, createdAt, carriesPending };
}

/** AWSPREVIOUS's credential, written before AWSCURRENT by default (a promotion retired it). */
function prev(username: string, createdAt: number | null = NOW - 5 * HOUR): NonNullable<AlternatingFacts['previous']> {
  return { username, createdAt };
}

function facts(overrides: Partial<AlternatingFacts> = {}): AlternatingFacts {
  return {
    usernames: ['app_a', 'app_b'],
    rotationId: R,
    mode: MODE.scheduled,
    recover: false,
    now: NOW,
    graceMs: 2 * HOUR,
    pendingLeaseMs: 600_000,
    hasAdmin: false,
    current: cur('v-current', 'app_a', NOW - 3 * HOUR),
    previous: prev('app_b'),
    lastChangedAt: null,
    pending: null,
    labelledVersionIds: ['v-current', 'v-previous'],
    ...overrides,
  };
}

describe('secondRotationId', () => {
  it('appends -2 within 64 characters and never returns the rotation id itself', () => {
    expect(secondRotationId(R)).toBe(`${R}-2`);
    const long = 'a'.repeat(64);
    expect(secondRotationId(long)).toBe(`${'a'.repeat(62)}-2`);
    expect(secondRotationId(long)).toHaveLength(64);
    const tricky = `${'a'.repeat(62)}-2`;
    expect(secondRotationId(tricky)).not.toBe(tricky);
    expect(secondRotationId(tricky)).toHaveLength(64);
  });
});

describe('roleDifference', () => {
  it('lists what to grant and revoke, sorted, ignoring public', () => {
    expect(roleDifference(['writer', 'reader', 'public'], ['reader', 'admin'])).toEqual({ grant: ['writer'], revoke: ['admin'] });
    expect(roleDifference(['reader', 'public'], ['reader'])).toEqual({ grant: [], revoke: [] });
    expect(roleDifference([], ['public'])).toEqual({ grant: [], revoke: [] });
  });
});

describe('leakNeedsSecondTurn', () => {
  it('is false only when the leaked user is the one the first turn changed', () => {
    expect(leakNeedsSecondTurn('app_b', 'app_b')).toBe(false);
    expect(leakNeedsSecondTurn('app_a', 'app_b')).toBe(true);
    expect(leakNeedsSecondTurn(undefined, 'app_b')).toBe(true);
  });
});

describe('graceStartsAt', () => {
  // AWSCURRENT written ahead at C; the grace is 2 h. The secret's last change, in each position.
  const C = NOW - 3 * HOUR;
  const changes = { absent: null, earlier: C - MINUTE, withinGrace: C + 30 * MINUTE, beyondGrace: C + 150 * MINUTE } as const;
  type Change = keyof typeof changes;
  const grace = (createdAt: number | null, carriesPending: boolean, change: Change, previousCreatedAt: number | null | 'none') => ({
    current: { createdAt, carriesPending },
    previous: previousCreatedAt === 'none' ? null : { createdAt: previousCreatedAt },
    lastChangedAt: changes[change],
    graceMs: 2 * HOUR,
  });
  // AWSPREVIOUS written before AWSCURRENT (a promotion retired it), without a date, or absent.
  const retiredByPromotion = [C - HOUR, null, 'none'] as const;
  const changeNames = Object.keys(changes) as Change[];

  it('case 2: AWSPENDING on AWSCURRENT: the last change when it is later than the creation (the promotion, or an edit after it)', () => {
    const expected: Record<Change, number> = { absent: C, earlier: C, withinGrace: C + 30 * MINUTE, beyondGrace: C + 150 * MINUTE };
    for (const previous of retiredByPromotion) for (const change of changeNames) expect(graceStartsAt(grace(C, true, change, previous)), `${change} ${previous}`).toBe(expected[change]);
  });

  it('case 3: AWSPENDING on no version: the creation, unless the last change came sooner than graceMs after it (no admitted rotation made it)', () => {
    const expected: Record<Change, number> = { absent: C, earlier: C, withinGrace: C + 30 * MINUTE, beyondGrace: C };
    for (const previous of retiredByPromotion) for (const change of changeNames) expect(graceStartsAt(grace(C, false, change, previous)), `${change} ${previous}`).toBe(expected[change]);
    // The boundary: a last change exactly graceMs after the creation may be an admitted rotation's.
    expect(graceStartsAt({ ...grace(C, false, 'absent', null), lastChangedAt: C + 2 * HOUR })).toBe(C);
    expect(graceStartsAt({ ...grace(C, false, 'absent', null), lastChangedAt: C + 2 * HOUR - 1 })).toBe(C + 2 * HOUR - 1);
  });

  it('case 1: AWSPREVIOUS created after AWSCURRENT (stored by hand, onboarding): the creation, whatever changed since', () => {
    for (const carriesPending of [false, true]) for (const change of changeNames) expect(graceStartsAt(grace(C, carriesPending, change, C + 10 * MINUTE)), `${carriesPending} ${change}`).toBe(C);
  });

  it('unknown dates: without the creation, the last change (null without either); never earlier than the creation', () => {
    for (const carriesPending of [false, true])
      for (const previous of [...retiredByPromotion, C + 10 * MINUTE])
        for (const change of changeNames) {
          expect(graceStartsAt(grace(null, carriesPending, change, previous)), `${carriesPending} ${change} ${previous}`).toBe(changes[change]);
          const start = graceStartsAt(grace(C, carriesPending, change, previous));
          expect(start, `${carriesPending} ${change} ${previous}`).not.toBeNull();
          expect(start ?? 0).toBeGreaterThanOrEqual(C);
        }
  });

  it('case 7 refuses exactly until graceMs after it, for every combination of the dates, scheduled or manual, never in leak mode or onboarding', () => {
    let refusals = 0;
    for (const createdAt of [C, null])
      for (const carriesPending of [false, true])
        for (const previous of [...retiredByPromotion, C + 10 * MINUTE])
          for (const change of changeNames)
            for (const mode of [MODE.scheduled, MODE.manual, MODE.leak])
              for (const onboard of [false, true]) {
                const g = grace(createdAt, carriesPending, change, previous);
                const start = graceStartsAt(g);
                const base = {
                  mode,
                  ...(mode === MODE.leak ? { leakedUsername: 'app_b' } : {}),
                  hasAdmin: true,
                  current: cur('v-current', 'app_a', createdAt, carriesPending),
                  // Onboarding: AWSPREVIOUS names no other user.
                  previous: previous === 'none' ? null : onboard ? prev('app_a', previous) : prev('app_b', previous),
                  lastChangedAt: g.lastChangedAt,
                };
                const label = JSON.stringify({ createdAt, carriesPending, previous, change, mode, onboard });
                if (previous === 'none' && !onboard) continue; // no AWSPREVIOUS is onboarding
                for (const now of [start === null ? NOW : start + 2 * HOUR - 1, start === null ? NOW : start + 2 * HOUR]) {
                  const d = decideAlternating(facts({ ...base, now }));
                  const refused = mode !== MODE.leak && !onboard && start !== null && now < start + 2 * HOUR;
                  if (refused) {
                    refusals++;
                    expect(d, label).toMatchObject({ kind: 'stop', outcome: 'failed', reason: 'grace_not_elapsed', notBefore: (start ?? 0) + 2 * HOUR });
                  } else expect(d, label).toMatchObject({ kind: 'turn', token: R, onboard });
                }
              }
    expect(refusals).toBeGreaterThan(30);
  });
});

describe('decideAlternating: the labelled cases', () => {
  it('case 1: refuses an AWSCURRENT naming neither user', () => {
    expect(decideAlternating(facts({ current: cur('v', 'stranger', null) }))).toMatchObject({ kind: 'stop', outcome: 'failed', reason: 'username_mismatch' });
  });

  it('case 8: a fresh first turn changes the user that is not AWSCURRENT, after the grace', () => {
    expect(decideAlternating(facts())).toEqual({ kind: 'turn', token: R, turn: 1, user: 'app_b', active: 'app_a', resume: false, onboard: false, remaining: 0 });
    expect(decideAlternating(facts({ current: cur('v', 'app_b', NOW - 3 * HOUR), previous: prev('app_a') }))).toMatchObject({ user: 'app_a', active: 'app_b' });
  });

  it('case 7: refuses a scheduled or manual rotation within the grace, with the time it becomes possible', () => {
    const created = NOW - HOUR;
    for (const mode of [MODE.scheduled, MODE.manual]) {
      const decision = decideAlternating(facts({ mode, current: cur('v', 'app_a', created) }));
      expect(decision).toMatchObject({ kind: 'stop', outcome: 'failed', reason: 'grace_not_elapsed', notBefore: created + 2 * HOUR });
      expect(decision.kind === 'stop' ? decision.error : '').toContain(new Date(created + 2 * HOUR).toISOString());
    }
    // Exactly at the end of the grace it is possible.
    expect(decideAlternating(facts({ current: cur('v', 'app_a', NOW - 2 * HOUR) }))).toMatchObject({ kind: 'turn' });
    // Leak mode ignores it.
    expect(decideAlternating(facts({ mode: MODE.leak, leakedUsername: 'app_b', current: cur('v', 'app_a', NOW) }))).toMatchObject({ kind: 'turn', remaining: 0 });
  });

  it('case 7: counts from the promotion: a rotation resumed an hour after its write ahead gives the retired user graceMs from the resume', () => {
    // Written ahead 2.5 h ago, promoted 1.5 h ago (AWSPENDING still on it): 30 minutes of grace left, not 30 minutes past it.
    const resumed = { current: cur('v', 'app_a', NOW - 150 * MINUTE), lastChangedAt: NOW - 90 * MINUTE };
    expect(decideAlternating(facts(resumed))).toMatchObject({ kind: 'stop', reason: 'grace_not_elapsed', notBefore: NOW + 30 * MINUTE });
    expect(decideAlternating(facts({ ...resumed, now: NOW + 30 * MINUTE }))).toMatchObject({ kind: 'turn', token: R });
    // A later rotation rolled back (AWSPENDING on no version, last change after the grace from the creation): its retry is not held back.
    expect(decideAlternating(facts({ current: cur('v', 'app_a', NOW - 150 * MINUTE, false), lastChangedAt: NOW - MINUTE }))).toMatchObject({ kind: 'turn', token: R });
  });

  it('case 6: onboards with admin (no grace: nobody holds the new user), else needs attention with what to do', () => {
    const single = { previous: prev('app_a'), current: cur('v', 'app_a', NOW) };
    expect(decideAlternating(facts({ ...single, hasAdmin: true }))).toMatchObject({ kind: 'turn', user: 'app_b', onboard: true, resume: false });
    expect(decideAlternating(facts({ ...single, previous: null, hasAdmin: true }))).toMatchObject({ kind: 'turn', onboard: true });
    const without = decideAlternating(facts(single));
    expect(without).toMatchObject({ kind: 'stop', outcome: 'needs_attention', reason: 'onboarding_required' });
    expect(without.kind === 'stop' ? without.error : '').toContain('AWSPREVIOUS');
  });

  it('leak of the retired user: one turn; of the active user or unnamed: two turns', () => {
    expect(decideAlternating(facts({ mode: MODE.leak, leakedUsername: 'app_b' }))).toMatchObject({ token: R, user: 'app_b', remaining: 0 });
    expect(decideAlternating(facts({ mode: MODE.leak, leakedUsername: 'app_a' }))).toMatchObject({ token: R, user: 'app_b', remaining: 1 });
    expect(decideAlternating(facts({ mode: MODE.leak }))).toMatchObject({ token: R, user: 'app_b', remaining: 1 });
  });

  it('case 3: after the first turn, done unless a leak needs the second (token R2, the other user, no grace)', () => {
    const afterFirst = { current: cur(R, 'app_b', NOW), previous: prev('app_a'), labelledVersionIds: [R, 'v-current'] };
    expect(decideAlternating(facts({ ...afterFirst, mode: MODE.manual }))).toEqual({ kind: 'done' });
    expect(decideAlternating(facts({ ...afterFirst, mode: MODE.leak, leakedUsername: 'app_b' }))).toEqual({ kind: 'done' });
    expect(decideAlternating(facts({ ...afterFirst, mode: MODE.leak }))).toEqual({ kind: 'turn', token: R2, turn: 2, user: 'app_a', active: 'app_b', resume: false, onboard: false, remaining: 0 });
    expect(decideAlternating(facts({ ...afterFirst, mode: MODE.leak, leakedUsername: 'app_a' }))).toMatchObject({ token: R2, user: 'app_a' });
  });

  it('case 2: after the second turn, done', () => {
    expect(decideAlternating(facts({ mode: MODE.leak, current: cur(R2, 'app_a', NOW) }))).toEqual({ kind: 'done' });
  });

  it('case 4a: resumes its own pending version, first or second turn, whatever the grace', () => {
    const young = { current: cur('v', 'app_a', NOW) };
    expect(decideAlternating(facts({ ...young, pending: { versionId: R, username: 'app_b', createdAt: NOW } }))).toMatchObject({ kind: 'turn', token: R, resume: true });
    expect(decideAlternating(facts({ ...young, pending: { versionId: R, username: null, createdAt: NOW } }))).toMatchObject({ kind: 'turn', token: R, resume: false });
    const second = decideAlternating(facts({ mode: MODE.leak, current: cur(R, 'app_b', NOW), previous: prev('app_a'), pending: { versionId: R2, username: 'app_a', createdAt: NOW } }));
    expect(second).toMatchObject({ kind: 'turn', token: R2, turn: 2, user: 'app_a', resume: true, remaining: 0 });
  });

  it('case 4b/4c: refuses a young foreign pending version, adopts an old one or with recover', () => {
    const young = { versionId: 'v-foreign', username: 'app_b', createdAt: NOW - 1_000 };
    expect(decideAlternating(facts({ pending: young }))).toMatchObject({ kind: 'stop', outcome: 'failed', reason: 'rotation_in_progress' });
    expect(decideAlternating(facts({ pending: { ...young, createdAt: null } }))).toMatchObject({ reason: 'rotation_in_progress' });
    expect(decideAlternating(facts({ pending: young, recover: true }))).toMatchObject({ kind: 'turn', token: 'v-foreign', resume: true });
    expect(decideAlternating(facts({ pending: { ...young, createdAt: NOW - 600_000 } }))).toMatchObject({ kind: 'turn', token: 'v-foreign' });
  });

  it('case 4: a pending credential of the active user is not ours to finish', () => {
    expect(decideAlternating(facts({ pending: { versionId: R, username: 'app_a', createdAt: NOW } }))).toMatchObject({ kind: 'stop', outcome: 'needs_attention', reason: 'secret_invalid' });
  });

  it('case 5: refuses a rotation id that already ended under another label', () => {
    expect(decideAlternating(facts({ labelledVersionIds: ['v-current', R] }))).toMatchObject({ kind: 'stop', reason: 'rotation_id_spent' });
  });
});

describe('decideAlternating: every combination', () => {
  const modes: Mode[] = [MODE.scheduled, MODE.manual, MODE.leak];
  const leaked = [undefined, 'app_a', 'app_b'];
  const currents = [
    { versionId: 'v-current', username: 'app_a' },
    { versionId: 'v-current', username: 'app_b' },
    { versionId: R, username: 'app_b' },
    { versionId: R2, username: 'app_a' },
  ];
  const createdAts = [null, NOW, NOW - 3 * HOUR];
  const previousUsers = [null, 'app_a', 'app_b'];
  const pendings = [null, R, R2, 'v-young', 'v-old'];
  const pendingUsers = [null, 'app_a', 'app_b'];
  const all: AlternatingFacts[] = [];
  for (const mode of modes)
    for (const leakedUsername of leaked)
      for (const current of currents)
        for (const createdAt of createdAts)
          for (const previousUser of previousUsers)
            for (const pendingId of pendings)
              for (const pendingUser of pendingId === null ? [null] : pendingUsers)
                for (const hasAdmin of [false, true])
                  for (const recover of [false, true])
                    for (const carriesPending of [false, true])
                      for (const lastChangedAt of [null, NOW - 30 * 60_000]) {
                        all.push(
                          facts({
                            mode,
                            ...(leakedUsername !== undefined && mode === MODE.leak ? { leakedUsername } : {}),
                            current: { ...current, createdAt, carriesPending },
                            previous: previousUser === null ? null : prev(previousUser),
                            lastChangedAt,
                            pending: pendingId === null ? null : { versionId: pendingId, username: pendingUser, createdAt: pendingId === 'v-old' ? NOW - HOUR : NOW },
                            hasAdmin,
                            recover,
                          }),
                        );
                      }

  it(`holds every rule over ${all.length} inputs`, () => {
    expect(all.length).toBeGreaterThan(5_000);
    for (const input of all) {
      const d = decideAlternating(input);
      const label = JSON.stringify(input);
      if (d.kind === 'turn') {
        // A turn never touches the active user, and always names the pair's other user.
        expect(d.user, label).not.toBe(input.current.username);
        expect(d.active, label).toBe(input.current.username);
        expect(input.usernames, label).toContain(d.user);
        // Its token is this rotation's (first or second) or an adopted pending version.
        expect([R, R2, input.pending?.versionId], label).toContain(d.token);
        // Resuming only where a pending version with a value exists for the token.
        if (d.resume) expect(input.pending?.versionId === d.token && input.pending.username !== null, label).toBe(true);
        // A pending credential that is resumed is always the user the turn changes.
        if (d.resume) expect(input.pending?.username, label).toBe(d.user);
        // Onboarding only with admin, unless a pending version already exists for the turn.
        if (d.onboard && input.pending === null) expect(input.hasAdmin, label).toBe(true);
        // Only leak mode plans a second turn or starts one; a second version already written is finished in any mode.
        if (d.remaining === 1 || (d.turn === 2 && input.pending?.versionId !== d.token)) expect(input.mode, label).toBe(MODE.leak);
        // Outside leak mode, a fresh first turn after a promotion respects the grace: never sooner
        // than graceMs after AWSCURRENT's creation, nor (AWSPENDING still on it, or no creation
        // date) after the secret's last change, which is then the promotion or later.
        if (input.mode !== MODE.leak && d.token === R && input.pending === null && !d.onboard) {
          if (input.current.createdAt !== null) expect(input.now - input.current.createdAt, label).toBeGreaterThanOrEqual(input.graceMs);
          if (input.lastChangedAt !== null && (input.current.carriesPending || input.current.createdAt === null)) expect(input.now - input.lastChangedAt, label).toBeGreaterThanOrEqual(input.graceMs);
        }
      } else if (d.kind === 'stop') {
        if (d.reason === 'grace_not_elapsed') {
          expect(input.mode, label).not.toBe(MODE.leak);
          expect(d.outcome, label).toBe('failed');
          expect(d.notBefore, label).toBeGreaterThan(input.now);
          if (input.current.createdAt !== null) expect(d.notBefore, label).toBeGreaterThanOrEqual(input.current.createdAt + input.graceMs);
        }
        if (d.reason === 'onboarding_required') expect(input.hasAdmin, label).toBe(false);
        if (d.reason === 'rotation_in_progress') expect(input.recover, label).toBe(false);
        expect(d.error, label).not.toBe('');
      } else {
        // Done: AWSCURRENT is this rotation's last version.
        expect([R, R2], label).toContain(input.current.versionId);
      }
    }
  });

  it('never leaves a leaked password unchanged: the turns of a leak change the leaked user', () => {
    for (const leakedUsername of [undefined, 'app_a', 'app_b']) {
      for (const active of ['app_a', 'app_b'] as const) {
        const retired = active === 'app_a' ? 'app_b' : 'app_a';
        const first = decideAlternating(facts({ mode: MODE.leak, ...(leakedUsername ? { leakedUsername } : {}), current: cur('v', active, NOW), previous: prev(retired) }));
        if (first.kind !== 'turn') throw new Error('expected a turn');
        const changed = [first.user];
        if (first.remaining === 1) {
          const second = decideAlternating(facts({ mode: MODE.leak, ...(leakedUsername ? { leakedUsername } : {}), current: cur(R, first.user, NOW), previous: prev(active) }));
          if (second.kind !== 'turn') throw new Error('expected a second turn');
          changed.push(second.user);
        }
        const mustChange = leakedUsername === undefined ? ['app_a', 'app_b'] : [leakedUsername];
        for (const user of mustChange) expect(changed, `${leakedUsername} ${active}`).toContain(user);
      }
    }
  });
});
