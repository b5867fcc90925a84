import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { statusOf } from '../src/rotation/credential-status.ts';
import { LeaseLostError } from '../src/rotation/errors.ts';
import { fenceLabel, type FencePoint } from '../src/rotation/fence-point.ts';
import type { Fault, FaultRule } from '../src/sandbox/milvus-simulator.ts';
import { STAGE } from '../src/secrets/types.ts';
import { ADMIN_USER, APP_ROLE, USER_A, USER_B, startAlternatingFixture, type AlternatingFixture } from './helpers/alternating-fixture.ts';
import { findExposures } from './helpers/exposure.ts';
import { assertEndInvariants, credentialUnder, watchStoredPasswordInvariant } from './helpers/invariants.ts';

/**
 * The alternating strategy end to end on the sandbox (real clients over HTTP, the simulators and
 * the Secrets Manager emulator): a rotation, the grace, leaks of either user, role parity with and
 * without admin, onboarding with and without admin, a crash before every side effect resumed by a
 * fresh engine, and ambiguous answers. Every test watches the per-user invariant at every change.
 */

let fixture: AlternatingFixture | null = null;
let watch: { violations: string[]; stop: () => void } | null = null;
afterEach(async () => {
  watch?.stop();
  watch = null;
  await fixture?.close();
  fixture = null;
});

async function start(options: Parameters<typeof startAlternatingFixture>[0] = {}): Promise<AlternatingFixture> {
  fixture = await startAlternatingFixture(options);
  watch = watchStoredPasswordInvariant(fixture.sandbox, fixture.credential);
  return fixture;
}

function sim(f: AlternatingFixture, cluster: string) {
  const simulator = f.sandbox.clusters.get(cluster);
  if (!simulator) throw new Error(`no simulator ${cluster}`);
  return simulator;
}

function labels(f: AlternatingFixture) {
  return {
    current: credentialUnder(f.sandbox, f.credential.secretId, STAGE.current),
    previous: credentialUnder(f.sandbox, f.credential.secretId, STAGE.previous),
    pending: f.sandbox.emulator.labelsOf(f.credential.secretId),
  };
}

/** AWSPENDING on a version other than AWSCURRENT. */
function pendingLeft(f: AlternatingFixture): boolean {
  return Object.values(f.sandbox.emulator.labelsOf(f.credential.secretId)).some((stages) => stages.includes(STAGE.pending) && !stages.includes(STAGE.current));
}

function expectClean(f: AlternatingFixture, outcome: string): void {
  expect(watch?.violations).toEqual([]);
  expect(assertEndInvariants(f.sandbox, f.credential, outcome)).toEqual([]);
}

/**
 * An engine that queues `rules` on `cluster` when the run reaches `step` (so the load step's own
 * calls do not use them up), and clears them when the roll back begins (not under test there).
 */
function faultsAt(f: AlternatingFixture, step: string, cluster: string, rules: FaultRule[]) {
  return f.engine({
    // Verification: 3 attempts of up to 3 probes each.
    tuning: { verifyAttempts: 3, probeAttempts: 3 },
    fence: async (point) => {
      if (point.kind !== 'step') return;
      if (point.step === step) for (const rule of rules) sim(f, cluster).injectFault(rule);
      if (point.step === 'roll_back') sim(f, cluster).clearFaults();
    },
  });
}

/** The applied-then-* kinds: they hit only requests that succeed (a 401 gets its real answer). */
const UNCLEAR_AFTER_APPLY: Fault[] = [{ kind: 'applied-then-408' }, { kind: 'applied-then-65535' }, { kind: 'applied-then-drop' }, { kind: 'applied-then-5xx' }];

/** Only app_a exists: AWSCURRENT and AWSPREVIOUS both name it (one earlier single-user rotation). */
function singleUserSecret(f: AlternatingFixture): { username: string; password: string } {
  const current = credentialUnder(f.sandbox, f.credential.secretId, STAGE.current);
  if (!current) throw new Error('no current');
  f.sandbox.emulator.seedVersion(f.credential.secretId, JSON.stringify({ username: USER_A, password: 'Older-Pass-0000-a!' }), [STAGE.previous]);
  for (const name of f.credential.clusters) sim(f, name).dropUser(USER_B);
  return current;
}

describe('alternating strategy', () => {
  describe('a rotation', () => {
    it('changes the retired user only, promotes it, and the previous AWSCURRENT user keeps working', async () => {
      const f = await start();
      const before = labels(f);
      expect(before.current?.username).toBe(USER_A);
      expect(before.previous?.username).toBe(USER_B);
      const result = await f.rotate();
      expect(result).toMatchObject({ outcome: 'rotated', reason: 'ok', clusters: { west: 'updated', east: 'updated' }, alternating: { currentUser: USER_B, previousUser: USER_A, turns: 1 } });
      const after = labels(f);
      expect(after.current?.username).toBe(USER_B);
      expect(after.previous).toEqual(before.current);
      expect(after.current?.password).not.toBe(before.previous?.password);
      for (const name of ['west', 'east']) {
        expect(sim(f, name).passwordOf(USER_A)).toBe(before.current?.password);
        expect(sim(f, name).passwordOf(USER_B)).toBe(after.current?.password);
        // The active user was never changed: only B's password moved.
        expect(sim(f, name).changeLog.filter((c) => c.via !== 'setPassword').map((c) => c.user)).toEqual([USER_B]);
      }
      expect(pendingLeft(f)).toBe(false);
      expectClean(f, result.outcome);
    });

    it('refuses a second rotation within the grace (failed, nothing changed) with when it becomes possible, then allows it', async () => {
      const f = await start();
      f.clock.offsetMs = 3 * 3_600_000;
      expect((await f.rotate()).outcome).toBe('rotated');
      const changes = sim(f, 'west').changeLog.length;
      const writes = f.sandbox.emulator.callCount('PutSecretValue');
      f.clock.offsetMs = 30 * 60_000; // 30 minutes after the promotion
      const refused = await f.rotate({ mode: 'scheduled' });
      expect(refused).toMatchObject({ outcome: 'failed', reason: 'grace_not_elapsed', versionId: null });
      expect(refused.alternating?.notBefore).toMatch(/^\d{4}-\d\d-\d\dT/);
      const notBefore = Date.parse(refused.alternating?.notBefore ?? '');
      expect(notBefore - Date.now()).toBeGreaterThan(60 * 60_000);
      expect(refused.error).toContain(refused.alternating?.notBefore);
      expect(sim(f, 'west').changeLog).toHaveLength(changes);
      expect(f.sandbox.emulator.callCount('PutSecretValue')).toBe(writes);
      f.clock.offsetMs = 2 * 3_600_000 + 60_000;
      expect(await f.rotate()).toMatchObject({ outcome: 'rotated', alternating: { currentUser: USER_A, previousUser: USER_B } });
      expectClean(f, 'rotated');
    });

    it('says when the grace of the user it retired ends: the promotion instant + graceMs; a refusal by the grace says notBefore', async () => {
      const f = await start();
      const from = Date.now() + f.clock.offsetMs;
      const result = await f.rotate();
      const to = Date.now() + f.clock.offsetMs;
      expect(result.outcome).toBe('rotated');
      const endsAt = Date.parse(result.alternating?.graceEndsAt ?? '');
      expect(endsAt).toBeGreaterThanOrEqual(from + f.credential.graceMs);
      expect(endsAt).toBeLessThanOrEqual(to + f.credential.graceMs);
      f.clock.offsetMs = 0; // the emulator dates versions by the real clock: now is within the grace
      const refused = await f.rotate();
      expect(refused).toMatchObject({ reason: 'grace_not_elapsed' });
      expect(refused.alternating?.graceEndsAt).toBe(refused.alternating?.notBefore);
      const failed = await f.rotate({ recover: true });
      expect(failed.alternating).not.toHaveProperty('graceEndsAt');
    });
  });

  describe('a promotion Secrets Manager throttles', () => {
    it('throttled past the budget: promote_failed, the retired user not rolled back, AWSPENDING kept; run again, it promotes', async () => {
      const f = await start();
      const before = labels(f);
      f.sandbox.emulator.injectFault({ op: 'UpdateSecretVersionStage', times: Infinity, fault: { kind: 'throttle' } });
      const rotationId = randomUUID();
      const promotes: string[] = [];
      const runtime = f.engine({ tuning: { writeThrottleBudgetMs: 250 }, fence: async (point) => void (fenceLabel(point) === 'promote' && promotes.push('promote')) });

      const result = await f.rotate({ mode: 'scheduled', rotationId, runtime });

      expect(result).toMatchObject({ outcome: 'needs_attention', reason: 'promote_failed', clusters: { west: 'updated', east: 'updated' } });
      expect(result.error).toMatch(/SECRET_THROTTLED.*AWSPENDING kept/);
      expect(promotes).toEqual(['promote', 'promote']);
      expect(f.events.some((e) => e.type === 'step-begin' && e.step === 'roll_back')).toBe(false);
      const pending = credentialUnder(f.sandbox, f.credential.secretId, STAGE.pending);
      expect(pending?.username).toBe(USER_B);
      for (const name of ['west', 'east']) expect(sim(f, name).passwordOf(USER_B)).toBe(pending?.password);
      expect(labels(f).current).toEqual(before.current);

      f.sandbox.emulator.clearFaults();
      const again = await f.rotate({ mode: 'scheduled', rotationId });
      expect(again).toMatchObject({ outcome: 'rotated', versionId: rotationId, alternating: { currentUser: USER_B, previousUser: USER_A } });
      expect(labels(f).current).toEqual(pending);
      expectClean(f, 'rotated');
    });
  });

  describe('the grace counts from the promotion (docs/reliability.md finding 4)', () => {
    const HOUR = 3_600_000;
    const GRACE = 2 * HOUR;

    /** Both clocks, the engines' and the emulator's, `ms` after the start: the dates the emulator writes are the engines' now. */
    function at(f: AlternatingFixture, ms: number): void {
      f.clock.offsetMs = ms;
      f.clock.secretsOffsetMs = ms;
    }

    /** An engine that stops (lease lost) at the promotion: the rotation is written ahead and set on every cluster, AWSCURRENT unmoved. */
    function cutBeforePromotion(f: AlternatingFixture) {
      return f.engine({
        fence: async (point: FencePoint) => {
          if (point.kind === 'secrets-write' && point.write === 'promote') throw new LeaseLostError('app');
        },
      });
    }

    /** A rotation written ahead at 3 h and cut before its promotion, resumed at 4 h; returns the version's creation and its promotion (LastChangedDate). */
    async function resumedAnHourLate(f: AlternatingFixture, resumeAs: 'same rotation' | 'new rotation'): Promise<{ createdAt: number; promotedAt: number }> {
      at(f, 3 * HOUR);
      const rotationId = randomUUID();
      await expect(f.rotate({ mode: 'scheduled', rotationId, runtime: cutBeforePromotion(f) })).rejects.toBeInstanceOf(LeaseLostError);
      expect(pendingLeft(f)).toBe(true);
      at(f, 4 * HOUR);
      // The same rotation (its job retried once the lock expired), or a new one adopting the stale version (reconcile, after pendingLeaseMs).
      const resumed = await f.rotate({ mode: 'scheduled', rotationId: resumeAs === 'same rotation' ? rotationId : randomUUID() });
      expect(resumed).toMatchObject({ outcome: 'rotated', versionId: rotationId, alternating: { currentUser: USER_B } });
      const store = f.engine().store;
      const createdAt = (await store.getByVersion(f.credential.secretId, rotationId))?.createdDate?.getTime() ?? 0;
      const promotedAt = (await store.describe(f.credential.secretId)).lastChangedDate?.getTime() ?? 0;
      expect(promotedAt - createdAt).toBeGreaterThanOrEqual(HOUR);
      return { createdAt, promotedAt };
    }

    for (const resumeAs of ['same rotation', 'new rotation'] as const) {
      it(`a rotation cut before its promotion and resumed an hour later (${resumeAs}): the next turn is refused until graceMs after the promotion, not after the write ahead`, async () => {
        const f = await start();
        const { createdAt, promotedAt } = await resumedAnHourLate(f, resumeAs);
        // 2.5 h after the write ahead (past graceMs), 1.5 h after the promotion (within it).
        at(f, 5.5 * HOUR);
        expect(Date.now() + f.clock.offsetMs - createdAt).toBeGreaterThan(GRACE);
        const changes = sim(f, 'west').changeLog.length;
        const writes = f.sandbox.emulator.callCount('PutSecretValue') + f.sandbox.emulator.callCount('UpdateSecretVersionStage');
        const refused = await f.rotate({ mode: 'scheduled' });
        expect(refused).toMatchObject({ outcome: 'failed', reason: 'grace_not_elapsed', versionId: null });
        expect(refused.alternating?.notBefore).toBe(new Date(promotedAt + GRACE).toISOString());
        expect(sim(f, 'west').changeLog).toHaveLength(changes);
        expect(f.sandbox.emulator.callCount('PutSecretValue') + f.sandbox.emulator.callCount('UpdateSecretVersionStage')).toBe(writes);
        // status says the same.
        const status = await statusOf(f.engine().store, f.credential, Date.now() + f.clock.offsetMs);
        expect(status.graceEndsAt).toBe(refused.alternating?.notBefore);
        // Just past graceMs after the promotion: allowed; the user retired by it (app_a) dies only now.
        at(f, promotedAt - Date.now() + GRACE + 60_000);
        expect(await f.rotate({ mode: 'scheduled' })).toMatchObject({ outcome: 'rotated', alternating: { currentUser: USER_A, previousUser: USER_B } });
        expectClean(f, 'rotated');
      });
    }

    it('a leak rotation that gives up before touching any cluster moves AWSPENDING back onto AWSCURRENT: the next scheduled turn still waits out the grace of the promotion', async () => {
      const f = await start();
      // Promoted 3 h after its write ahead, so "AWSPENDING on no version, last change past graceMs after the creation" would read as "the grace is over".
      at(f, 3 * HOUR);
      const rotationId = randomUUID();
      await expect(f.rotate({ mode: 'scheduled', rotationId, runtime: cutBeforePromotion(f) })).rejects.toBeInstanceOf(LeaseLostError);
      at(f, 6 * HOUR);
      expect(await f.rotate({ mode: 'scheduled', rotationId })).toMatchObject({ outcome: 'rotated', versionId: rotationId });
      // 30 minutes later a leak of app_a's (AWSPREVIOUS) password: every cluster refuses to change it.
      at(f, 6.5 * HOUR);
      for (const name of f.credential.clusters) sim(f, name).injectFault({ route: 'update_password', user: USER_A, times: 100, fault: { kind: 'reply', status: 200, body: '{"code":1100,"message":"refused"}' } });
      const leak = await f.rotate({ mode: 'leak', leakedUsername: USER_A });
      expect(leak).toMatchObject({ outcome: 'needs_attention', reason: 'leak_not_contained' });
      const stages = f.sandbox.emulator.labelsOf(f.credential.secretId);
      expect(stages[rotationId]?.slice().sort()).toEqual([STAGE.current, STAGE.pending]);
      expect(pendingLeft(f)).toBe(false);
      const gaveUpAt = (await f.engine().store.describe(f.credential.secretId)).lastChangedDate?.getTime() ?? 0;
      for (const name of f.credential.clusters) sim(f, name).clearFaults();
      // 1 h after the promotion, 4 h after AWSCURRENT's creation: refused until graceMs after the leak gave up.
      at(f, 7 * HOUR);
      const refused = await f.rotate({ mode: 'scheduled' });
      expect(refused).toMatchObject({ outcome: 'failed', reason: 'grace_not_elapsed' });
      expect(refused.alternating?.notBefore).toBe(new Date(gaveUpAt + GRACE).toISOString());
      expectClean(f, 'failed');
    });
  });

  describe('leak mode', () => {
    it('a leak of the AWSCURRENT user takes two turns, inactive user first, ignoring the grace: both old passwords die', async () => {
      const f = await start();
      f.clock.offsetMs = 0; // within the grace: leak mode ignores it
      const before = labels(f);
      const rotationId = randomUUID();
      const result = await f.rotate({ mode: 'leak', leakedUsername: USER_A, rotationId });
      expect(result).toMatchObject({ outcome: 'rotated', versionId: `${rotationId}-2`, alternating: { currentUser: USER_A, previousUser: USER_B, turns: 2 } });
      const after = labels(f);
      for (const name of ['west', 'east']) {
        expect(sim(f, name).passwordOf(USER_A)).toBe(after.current?.password);
        expect(sim(f, name).passwordOf(USER_B)).toBe(after.previous?.password);
        expect(sim(f, name).passwordOf(USER_A)).not.toBe(before.current?.password);
        expect(sim(f, name).passwordOf(USER_B)).not.toBe(before.previous?.password);
        // Inactive user first: B's change precedes A's on every cluster.
        expect(sim(f, name).changeLog.filter((c) => c.via !== 'setPassword').map((c) => c.user)).toEqual([USER_B, USER_A]);
      }
      expectClean(f, result.outcome);
    });

    it('a leak named only by credential also takes two turns', async () => {
      const f = await start({ clusters: ['west'] });
      const result = await f.rotate({ mode: 'leak' });
      expect(result).toMatchObject({ outcome: 'rotated', alternating: { turns: 2 } });
      expect(sim(f, 'west').changeLog.filter((c) => c.via !== 'setPassword').map((c) => c.user)).toEqual([USER_B, USER_A]);
      expectClean(f, result.outcome);
    });

    it('a leak of the AWSPREVIOUS user takes one turn and leaves the active user alone', async () => {
      const f = await start();
      f.clock.offsetMs = 0;
      const before = labels(f);
      const result = await f.rotate({ mode: 'leak', leakedUsername: USER_B });
      expect(result).toMatchObject({ outcome: 'rotated', alternating: { currentUser: USER_B, turns: 1 } });
      for (const name of ['west', 'east']) {
        expect(sim(f, name).passwordOf(USER_A)).toBe(before.current?.password);
        expect(sim(f, name).passwordOf(USER_B)).not.toBe(before.previous?.password);
      }
      expectClean(f, result.outcome);
    });
  });

  describe('role parity', () => {
    it('without admin, stops with roles_differ naming the roles before changing anything', async () => {
      const f = await start();
      sim(f, 'east').setRoles(USER_B, [APP_ROLE, 'db_admin']);
      sim(f, 'east').setRoles(USER_A, [APP_ROLE, 'reader']);
      const before = labels(f);
      const result = await f.rotate();
      expect(result).toMatchObject({ outcome: 'needs_attention', reason: 'roles_differ', alternating: { rolesDiffer: [{ cluster: 'east', missing: ['reader'], extra: ['db_admin'] }] } });
      expect(result.error).toContain('reader');
      expect(result.error).toContain('db_admin');
      expect(labels(f).current).toEqual(before.current);
      expect(pendingLeft(f)).toBe(false);
      expect(f.sandbox.emulator.callCount('PutSecretValue')).toBe(0);
      for (const name of ['west', 'east']) {
        expect(sim(f, name).passwordOf(USER_B)).toBe(before.previous?.password);
        expect(sim(f, name).requestCount('update_password')).toBe(0);
      }
      expectClean(f, 'failed');
    });

    it('without admin, roles that change during the rotation stop it before promoting, and the retired user is put back', async () => {
      const f = await start();
      const before = labels(f);
      // The roles differ only once the set step has begun (an operator changes them meanwhile).
      const runtime = f.engine({
        fence: async (point) => {
          if (point.kind === 'step' && point.step === 'set') sim(f, 'west').setRoles(USER_B, ['other_role']);
        },
      });
      const result = await f.rotate({ runtime });
      expect(result).toMatchObject({ outcome: 'needs_attention', reason: 'roles_differ', alternating: { rolesDiffer: [{ cluster: 'west', missing: [APP_ROLE], extra: ['other_role'] }] } });
      expect(labels(f).current).toEqual(before.current);
      expect(pendingLeft(f)).toBe(false);
      for (const name of ['west', 'east']) expect(sim(f, name).passwordOf(USER_B)).toBe(before.previous?.password);
      expectClean(f, 'rolled_back');
    });

    it('in leak mode without admin, kills the leaked password anyway and keeps it under AWSPENDING, AWSCURRENT unmoved', async () => {
      const f = await start();
      sim(f, 'east').setRoles(USER_B, ['other_role']);
      const before = labels(f);
      const result = await f.rotate({ mode: 'leak', leakedUsername: USER_B });
      expect(result).toMatchObject({ outcome: 'needs_attention', reason: 'roles_differ', alternating: { rolesDiffer: [{ cluster: 'east', missing: [APP_ROLE], extra: ['other_role'] }] } });
      expect(labels(f).current).toEqual(before.current);
      expect(pendingLeft(f)).toBe(true);
      const pending = credentialUnder(f.sandbox, f.credential.secretId, STAGE.pending);
      for (const name of ['west', 'east']) {
        expect(sim(f, name).passwordOf(USER_B)).not.toBe(before.previous?.password);
        expect(sim(f, name).passwordOf(USER_B)).toBe(pending?.password);
      }
      expectClean(f, 'needs_attention');
    });

    it('with admin, aligns the retired user\'s roles (grant and revoke) and says so', async () => {
      const f = await start({ admin: true });
      sim(f, 'east').setRoles(USER_B, [APP_ROLE, 'db_admin']);
      sim(f, 'east').setRoles(USER_A, [APP_ROLE, 'reader']);
      const result = await f.rotate();
      expect(result).toMatchObject({ outcome: 'rotated', alternating: { rolesAligned: { user: USER_B, granted: ['reader'], revoked: ['db_admin'] } } });
      expect(sim(f, 'east').rolesOf(USER_B).sort()).toEqual([APP_ROLE, 'reader'].sort());
      expect(sim(f, 'west').rolesOf(USER_B)).toEqual([APP_ROLE]);
      expectClean(f, result.outcome);
    });
  });

  /**
   * Finding 5 of docs/reliability.md: the roles step's users/describe without a clear answer (a
   * gateway 503, an applied-then-408 or -65535) three times in a row ended the rotation
   * needs_attention / roles_differ "role parity not established" (in leak mode "leak not
   * contained: ..."), while both users held the same roles and the leak was contained.
   */
  describe('role parity when users/describe gives no clear answer', () => {
    const unclearThrice: FaultRule[] = [
      { route: 'users/describe', user: USER_B, fault: { kind: 'status', status: 503 } },
      { route: 'users/describe', user: USER_B, fault: { kind: 'applied-then-408' } },
      { route: 'users/describe', user: USER_B, fault: { kind: 'applied-then-65535' } },
    ];
    const neverClear: FaultRule[] = [{ route: 'users/describe', user: USER_B, times: 1_000, fault: { kind: 'status', status: 503 } }];

    it('unclear three times, then answered: the describe is asked again and the rotation completes', async () => {
      const f = await start();
      const result = await f.rotate({ mode: 'scheduled', runtime: faultsAt(f, 'roles', 'west', unclearThrice) });
      expect(result).toMatchObject({ outcome: 'rotated', reason: 'ok', alternating: { currentUser: USER_B } });
      expect(sim(f, 'west').pendingFaults()).toBe(0);
      expectClean(f, result.outcome);
    });

    it('never answered, scheduled: rolled_back with roles_unknown (not roles_differ), the retired user put back, nothing pending', async () => {
      const f = await start();
      const before = labels(f);
      const result = await f.rotate({ mode: 'scheduled', runtime: faultsAt(f, 'roles', 'west', neverClear) });
      expect(result).toMatchObject({ outcome: 'rolled_back', reason: 'roles_unknown', clusters: { west: 'rolled_back', east: 'rolled_back' } });
      expect(result.alternating?.rolesDiffer).toBeUndefined();
      expect(result.error).toContain(`west: users/describe of ${USER_B} gave no list of roles`);
      expect(result.error).not.toMatch(/differ|not contained/);
      expect(labels(f).current).toEqual(before.current);
      expect(pendingLeft(f)).toBe(false);
      for (const name of ['west', 'east']) expect(sim(f, name).passwordOf(USER_B)).toBe(before.previous?.password);
      expectClean(f, result.outcome);
    });

    it('never answered, leak of the retired user: needs_attention roles_unknown saying the leak is contained, AWSPENDING kept; adopted and promoted once the lease is over', async () => {
      const f = await start();
      const before = labels(f);
      const result = await f.rotate({ mode: 'leak', leakedUsername: USER_B, runtime: faultsAt(f, 'roles', 'west', neverClear) });
      expect(result).toMatchObject({ outcome: 'needs_attention', reason: 'roles_unknown', clusters: { west: 'updated', east: 'updated' } });
      expect(result.error).toMatch(/^leak contained/);
      expect(result.error).not.toMatch(/differ|not contained/);
      const pending = credentialUnder(f.sandbox, f.credential.secretId, STAGE.pending);
      expect(pending?.username).toBe(USER_B);
      for (const name of ['west', 'east']) {
        expect(sim(f, name).passwordOf(USER_B)).not.toBe(before.previous?.password);
        expect(sim(f, name).passwordOf(USER_B)).toBe(pending?.password);
      }
      expect(labels(f).current).toEqual(before.current);
      expectClean(f, result.outcome);

      // What reconcile does once the pending version is older than rotation.pendingLeaseMs: a
      // rotation with a new id adopts it (case 4c) and, the describes answering again, promotes it.
      sim(f, 'west').clearFaults();
      f.clock.offsetMs += f.sandbox.config.rotation.pendingLeaseMs;
      const adopted = await f.rotate({ mode: 'scheduled' });
      expect(adopted).toMatchObject({ outcome: 'rotated', versionId: result.versionId, alternating: { currentUser: USER_B } });
      expect(labels(f).current).toEqual(pending);
      expectClean(f, adopted.outcome);
    });

    it('never answered, leak of the active user: the first turn stops with roles_unknown and says the leak is not contained (the active user\'s password is untouched)', async () => {
      const f = await start();
      const result = await f.rotate({ mode: 'leak', leakedUsername: USER_A, runtime: faultsAt(f, 'roles', 'west', neverClear) });
      expect(result).toMatchObject({ outcome: 'needs_attention', reason: 'roles_unknown', alternating: { turns: 1 } });
      expect(result.error).toMatch(/^leak not contained/);
      expect(result.error).toContain(USER_A);
      expect(pendingLeft(f)).toBe(true);
      expectClean(f, result.outcome);
    });
  });

  /** Finding 6 of docs/reliability.md, in this strategy: an unclear verification probe read as "not accepted". */
  describe('verification when probes give no clear answer', () => {
    it('unclear answers to the probes of the new password and of the active user are probed again: rotated', async () => {
      const f = await start();
      const rules = [USER_B, USER_A].flatMap((user) => UNCLEAR_AFTER_APPLY.map((fault): FaultRule => ({ route: 'probe', user, fault })));
      const result = await f.rotate({ mode: 'leak', leakedUsername: USER_B, runtime: faultsAt(f, 'verify', 'east', rules) });
      expect(result).toMatchObject({ outcome: 'rotated', reason: 'ok', clusters: { west: 'updated', east: 'updated' } });
      expect(sim(f, 'east').pendingFaults()).toBe(0);
      expectClean(f, result.outcome);
    });

    it('never a clear answer for the new password on one cluster, leak of the retired user: needs_attention cluster_unreachable, leak contained, AWSPENDING kept', async () => {
      const f = await start();
      const before = labels(f);
      const result = await f.rotate({ mode: 'leak', leakedUsername: USER_B, runtime: faultsAt(f, 'verify', 'east', [{ route: 'probe', user: USER_B, times: 1_000, fault: { kind: 'applied-then-5xx' } }]) });
      expect(result).toMatchObject({ outcome: 'needs_attention', reason: 'cluster_unreachable', clusters: { west: 'updated', east: 'unreachable' } });
      expect(result.error).toMatch(/^leak contained/);
      expect(result.error).toContain('east: unreachable (no clear answer to the verification probes of the new password');
      expect(result.error).not.toMatch(/not contained|not accepted/);
      const pending = credentialUnder(f.sandbox, f.credential.secretId, STAGE.pending);
      for (const name of ['west', 'east']) {
        expect(sim(f, name).passwordOf(USER_B)).not.toBe(before.previous?.password);
        expect(sim(f, name).passwordOf(USER_B)).toBe(pending?.password);
      }
      expectClean(f, result.outcome);
    });
  });

  describe('onboarding from a single-user secret', () => {
    it('with admin, creates the second user with the first one\'s roles and promotes it', async () => {
      const f = await start({ admin: true });
      const a = singleUserSecret(f);
      expect(sim(f, 'west').passwordOf(USER_B)).toBeUndefined();
      f.clock.offsetMs = 0; // onboarding retires nobody: no grace
      const result = await f.rotate();
      expect(result).toMatchObject({ outcome: 'rotated', alternating: { currentUser: USER_B, previousUser: USER_A, onboarded: true, rolesAligned: { user: USER_B, granted: [APP_ROLE], revoked: [] } } });
      const after = labels(f);
      expect(after.current?.username).toBe(USER_B);
      expect(after.previous).toEqual({ username: USER_A, password: a.password });
      for (const name of ['west', 'east']) {
        expect(sim(f, name).passwordOf(USER_B)).toBe(after.current?.password);
        expect(sim(f, name).rolesOf(USER_B)).toEqual([APP_ROLE]);
        expect(sim(f, name).passwordOf(USER_A)).toBe(a.password);
      }
      expectClean(f, result.outcome);
    });

    it('without admin, needs attention until the operator creates the user and stores its password under AWSPREVIOUS once', async () => {
      const f = await start();
      singleUserSecret(f);
      const before = labels(f);
      const refused = await f.rotate();
      expect(refused).toMatchObject({ outcome: 'needs_attention', reason: 'onboarding_required', versionId: null });
      expect(refused.error).toContain('AWSPREVIOUS');
      expect(labels(f).current).toEqual(before.current);
      // The runbook's procedure: app_b's credential goes into the secret once, under AWSPREVIOUS
      // (put-secret-value --version-stages AWSPREVIOUS), and an operator creates app_b with that
      // password and the roles of app_a.
      const given = 'Given-Once-Pass-1234!';
      // Stored first, then set: the invariant holds at every instant, even for the operator's steps.
      f.sandbox.emulator.seedVersion(f.credential.secretId, JSON.stringify({ username: USER_B, password: given }), [STAGE.previous]);
      for (const name of f.credential.clusters) {
        sim(f, name).setPassword(USER_B, given);
        sim(f, name).setRoles(USER_B, [APP_ROLE]);
      }
      const result = await f.rotate();
      expect(result).toMatchObject({ outcome: 'rotated', alternating: { currentUser: USER_B, previousUser: USER_A } });
      // The password the operator handled is dead: the first rotation changed it.
      for (const name of ['west', 'east']) expect(sim(f, name).passwordOf(USER_B)).not.toBe(given);
      expectClean(f, result.outcome);
    });
  });

  describe('a crash before every side effect, resumed by a fresh engine', () => {
    it('finishes the same rotation from wherever the first engine stopped, for every fence point', async () => {
      const probe = await start({ admin: true });
      const points: string[] = [];
      await probe.rotate({ mode: 'leak', runtime: probe.engine({ fence: async (point: FencePoint) => void points.push(fenceLabel(point)) }) });
      await probe.close();
      watch?.stop();
      fixture = null;
      expect(points.length).toBeGreaterThan(10);

      for (let stopAt = 0; stopAt < points.length; stopAt++) {
        const f = await start({ admin: true });
        sim(f, 'east').setRoles(USER_A, [APP_ROLE, 'reader']); // the admin aligns it on the way
        const rotationId = randomUUID();
        let calls = 0;
        const crashing = f.engine({
          fence: async () => {
            if (calls++ === stopAt) throw new LeaseLostError('app');
          },
        });
        await expect(f.rotate({ mode: 'leak', rotationId, runtime: crashing })).rejects.toBeInstanceOf(LeaseLostError);
        const resumed = await f.rotate({ mode: 'leak', rotationId, recover: false });
        expect(resumed.outcome, `crash at #${stopAt} (${points[stopAt]})`).toBe('rotated');
        expect(watch?.violations, `crash at #${stopAt}`).toEqual([]);
        expect(assertEndInvariants(f.sandbox, f.credential, 'rotated'), `crash at #${stopAt}`).toEqual([]);
        expect(pendingLeft(f), `crash at #${stopAt}`).toBe(false);
        expect(labels(f).current?.username).toBe(USER_A);
        watch?.stop();
        await f.close();
        fixture = null;
      }
    }, 60_000);
  });

  describe('ambiguous answers', () => {
    it('resolves applied-then-timeouts by probing and repeats only the idempotent calls (grant, describe)', async () => {
      const f = await start({ admin: true });
      sim(f, 'east').setRoles(USER_A, [APP_ROLE, 'reader']);
      sim(f, 'west').injectFault({ route: 'update_password', user: USER_B, fault: { kind: 'applied-then-408' } });
      sim(f, 'east').injectFault({ route: 'update_password', user: USER_B, fault: { kind: 'applied-then-65535' } });
      sim(f, 'east').injectFault({ route: 'users/grant_role', fault: { kind: 'applied-then-drop' } });
      sim(f, 'west').injectFault({ route: 'users/describe', fault: { kind: 'status', status: 503 } });
      sim(f, 'west').injectFault({ route: 'probe', user: USER_A, fault: { kind: 'status', status: 502 } });
      const result = await f.rotate();
      expect(result).toMatchObject({ outcome: 'rotated', alternating: { rolesAligned: { user: USER_B, granted: ['reader'], revoked: [] } } });
      for (const simulator of f.sandbox.clusters.values()) expect(simulator.pendingFaults()).toBe(0);
      // update_password once per cluster: the ambiguous answers were probed, not replayed.
      expect(sim(f, 'west').requestCount('update_password')).toBe(1);
      expect(sim(f, 'east').requestCount('update_password')).toBe(1);
      // The grant was repeated after the dropped answer (idempotent); the describe after the 503.
      expect(sim(f, 'east').requestCount('users/grant_role')).toBe(2);
      expectClean(f, result.outcome);
    });

    it('onboarding: an applied-then-408 create is probed, not repeated into "user already exists"', async () => {
      const f = await start({ admin: true });
      singleUserSecret(f);
      sim(f, 'west').injectFault({ route: 'users/create', fault: { kind: 'applied-then-408' } });
      sim(f, 'east').injectFault({ route: 'users/create', fault: { kind: 'status', status: 503 } });
      const result = await f.rotate();
      expect(result).toMatchObject({ outcome: 'rotated', alternating: { onboarded: true } });
      expect(sim(f, 'west').requestCount('users/create')).toBe(1);
      expect(sim(f, 'east').requestCount('users/create')).toBe(2);
      expectClean(f, result.outcome);
    });
  });

  it('costs, per rotation: 2 Secrets Manager writes like single, plus 1 read (AWSPREVIOUS) and 1 more with admin; 2 role reads per user and cluster', async () => {
    const OPS = ['DescribeSecret', 'GetSecretValue', 'ListSecretVersionIds', 'PutSecretValue', 'UpdateSecretVersionStage'];
    const count = (f: AlternatingFixture): Record<string, number> => Object.fromEntries(OPS.map((op) => [op, f.sandbox.emulator.callCount(op)]));
    const f = await start();
    const before = count(f);
    expect((await f.rotate()).outcome).toBe('rotated');
    const after = count(f);
    const used = Object.fromEntries(OPS.map((op) => [op, (after[op] ?? 0) - (before[op] ?? 0)]));
    expect(used).toEqual({ DescribeSecret: 2, GetSecretValue: 2, ListSecretVersionIds: 0, PutSecretValue: 1, UpdateSecretVersionStage: 1 });
    // Per cluster: the pre-check and the roles step each describe both users (4), no role writes.
    for (const name of ['west', 'east']) expect(sim(f, name).requestCount('users/describe')).toBe(4);
    await f.close();
    fixture = null;
    watch?.stop();

    const g = await start({ admin: true });
    const start2 = count(g);
    expect((await g.rotate()).outcome).toBe('rotated');
    const end2 = count(g);
    expect((end2['GetSecretValue'] ?? 0) - (start2['GetSecretValue'] ?? 0)).toBe(3);
    expect((end2['PutSecretValue'] ?? 0) + (end2['UpdateSecretVersionStage'] ?? 0) - (start2['PutSecretValue'] ?? 0) - (start2['UpdateSecretVersionStage'] ?? 0)).toBe(2);
    for (const name of ['west', 'east']) expect(sim(g, name).requestCount('users/describe')).toBe(2);
  });

  it('dry run: says what a rotation would do and what each cluster accepts for both users, writing nothing', async () => {
    const f = await start();
    const runtime = f.engine();
    const req = { credential: f.credential, mode: 'manual' as const, rotationId: randomUUID() };
    const plan = await runtime.engine.plan(req);
    expect(plan).toMatchObject({ dryRun: true, strategy: 'alternating', action: 'rotate', outcome: null, pending: null });
    expect(plan.clusters['west']?.accepts).toEqual({ current: 'accepted', pending: null, previous: 'accepted' });
    f.clock.offsetMs = 0;
    const refused = await f.engine().engine.plan(req);
    expect(refused).toMatchObject({ action: 'refuse', outcome: 'failed', reason: 'grace_not_elapsed' });
    expect(f.sandbox.emulator.callCount('PutSecretValue') + f.sandbox.emulator.callCount('UpdateSecretVersionStage')).toBe(0);
    for (const simulator of f.sandbox.clusters.values()) expect(simulator.changeLog.filter((c) => c.via !== 'setPassword')).toEqual([]);
  });

  it('recover with nothing pending writes nothing and answers nothing_pending', async () => {
    const f = await start();
    const result = await f.rotate({ recover: true });
    expect(result).toMatchObject({ outcome: 'rotated', reason: 'nothing_pending', alternating: { currentUser: USER_A, previousUser: USER_B } });
    expect(f.sandbox.emulator.callCount('PutSecretValue')).toBe(0);
  });

  it('never lets a password into results, events or errors', async () => {
    const f = await start({ admin: true });
    sim(f, 'east').setRoles(USER_A, [APP_ROLE, 'reader']);
    await f.rotate();
    await f.rotate({ mode: 'leak' });
    sim(f, 'west').setRoles(USER_B, ['other']);
    await f.rotate({ mode: 'leak', leakedUsername: USER_B });
    const passwords = new Set<string>();
    for (const simulator of f.sandbox.clusters.values()) for (const p of simulator.passwordsSeen()) passwords.add(p);
    const haystacks = [...f.results.map((r) => JSON.stringify(r)), ...f.events.map((e) => JSON.stringify(e))];
    expect(findExposures(haystacks, passwords, [USER_A, USER_B, ADMIN_USER])).toEqual([]);
  });
});
