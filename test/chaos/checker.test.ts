/**
 * The chaos soak's instruments, proven able to fail (issue 7: "a deliberately broken engine makes
 * the checker fail"). In process, against the sandbox, fast: no Redis, no worker processes.
 *
 * - Two deliberately broken engines (the real RotationEngine over a SecretStore that breaks the
 *   protocol's order) end `rotated` with a clean end state, and only the at-every-instant checker
 *   sees what they did: one sets the clusters before AWSPENDING exists, one drops AWSPENDING
 *   before AWSCURRENT moves. The healthy engine on the same sandbox adds no violation.
 * - Alternating credentials, per user: a broken strategy that changes the AWSCURRENT user, an
 *   engine whose clock runs ahead (early kills, excused only in leak rotations), and a rotation cut
 *   before its promotion and resumed past graceMs: the kill that follows is judged from the
 *   promotion, so a checker that counted from the version's creation would fail that test.
 * - The outcome judge finds a lockout (a cluster left on AWSPREVIOUS after `rotated`) and tells a
 *   true needs_attention reason from a false one; endState finds a lost password.
 * - The fault accounting of the chaos sandbox matches what a client actually receives.
 * - The fast exposure scanner finds exactly what test/helpers/exposure.ts findExposures finds.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { SingleCredentialConfig } from '../../src/config/types.ts';
import { startAlternatingFixture, USER_A, USER_B } from '../helpers/alternating-fixture.ts';
import { generatePassword } from '../../src/password/generate.ts';
import { createEngineRuntime, type EngineRuntime } from '../../src/rotation/create-engine.ts';
import { RotationEngine } from '../../src/rotation/engine.ts';
import { LeaseLostError } from '../../src/rotation/errors.ts';
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.ts';
import { STAGE, type SecretStore } from '../../src/secrets/types.ts';
import { makeConfig, type SingleUserConfig } from '../helpers/config.ts';
import { findExposures } from '../helpers/exposure.ts';
import { FAST_TUNING } from '../helpers/rotation-fixture.ts';
import { attachInvariantChecker, endState, judgeEarlyKills, judgeOutcomes, judgeReports, labelledPasswords, type LoggedOutcome } from './checker.ts';
import { ExposureScanner } from './exposure-scan.ts';
import { AMBIGUOUS_KINDS, startChaosSandbox, type AmbiguousKind } from './sandbox.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function twoClusterSandbox(): Promise<{ sandbox: Sandbox<SingleUserConfig>; credential: SingleCredentialConfig; runtime: EngineRuntime }> {
  const sandbox = await startSandbox(makeConfig(['west', 'east'], [{ id: 'app', username: 'app_user', clusters: ['west', 'east'] }]));
  Object.assign(process.env, sandbox.env);
  const runtime = createEngineRuntime(sandbox.config, { tuning: FAST_TUNING });
  cleanups.push(() => sandbox.close(), () => runtime.close());
  const credential = sandbox.config.credentials['app'];
  if (!credential) throw new Error('no credential');
  return { sandbox, credential, runtime };
}

/** A SecretStore that forwards to `store` except for the methods in `overrides`. */
function storeWith(store: SecretStore, overrides: Partial<SecretStore>): SecretStore {
  return {
    describe: (secretId) => store.describe(secretId),
    listVersions: (secretId) => store.listVersions(secretId),
    getByStage: (secretId, stage) => store.getByStage(secretId, stage),
    getByVersion: (secretId, versionId) => store.getByVersion(secretId, versionId),
    putPending: (secretId, token, value) => store.putPending(secretId, token, value),
    promote: (secretId, token, options) => store.promote(secretId, token, options),
    abandon: (secretId, token, options) => store.abandon(secretId, token, options),
    ...overrides,
  };
}

function passwordOf(value: string): string {
  return (JSON.parse(value) as { password: string }).password;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('chaos checker: a deliberately broken engine makes it fail', () => {
  it('an engine that sets the clusters before writing AWSPENDING: a violation per cluster, at the change, although it ends rotated with a clean end state', async () => {
    const { sandbox, credential, runtime } = await twoClusterSandbox();
    const checker = attachInvariantChecker(sandbox, [credential]);
    cleanups.push(() => checker.stop());
    const setClustersFirst = storeWith(runtime.store, {
      putPending: async (secretId, token, value) => {
        const current = await runtime.store.getByStage(secretId, STAGE.current);
        if (!current) throw new Error('no AWSCURRENT');
        for (const name of credential.clusters) await runtime.cluster(name).updatePassword(credential.username, passwordOf(current.value), passwordOf(value));
        await runtime.store.putPending(secretId, token, value);
      },
    });
    const broken = new RotationEngine({ store: setClustersFirst, cluster: runtime.cluster, generatePassword, tuning: FAST_TUNING });

    const result = await broken.rotate({ credential, mode: 'manual', rotationId: randomUUID() });

    expect(result.outcome).toBe('rotated');
    expect(endState(sandbox, [credential])).toEqual({ lost: [], notCurrent: [] });
    expect(checker.violations.map((v) => [v.kind, v.credential, v.cluster])).toEqual([
      ['cluster-change', 'app', 'west'],
      ['cluster-change', 'app', 'east'],
    ]);
    expect(checker.violations[0]?.detail).toMatch(/set a password held under no label/);
  });

  it('an engine whose finish drops AWSPENDING before moving AWSCURRENT: a violation per cluster, at that Secrets Manager write', async () => {
    const { sandbox, credential, runtime } = await twoClusterSandbox();
    const checker = attachInvariantChecker(sandbox, [credential]);
    cleanups.push(() => checker.stop());
    const dropPendingFirst = storeWith(runtime.store, {
      promote: async (secretId, token, options) => {
        await runtime.store.abandon(secretId, token);
        await runtime.store.promote(secretId, token, options);
      },
    });
    const broken = new RotationEngine({ store: dropPendingFirst, cluster: runtime.cluster, generatePassword, tuning: FAST_TUNING });

    const result = await broken.rotate({ credential, mode: 'scheduled', rotationId: randomUUID() });

    expect(result.outcome).toBe('rotated');
    expect(endState(sandbox, [credential])).toEqual({ lost: [], notCurrent: [] });
    expect(checker.violations.map((v) => [v.kind, v.cluster])).toEqual([
      ['secrets-write', 'west'],
      ['secrets-write', 'east'],
    ]);
    expect(checker.violations[0]?.detail).toMatch(/^UpdateSecretVersionStage left the cluster's password under no label/);
  });

  it('the healthy engine on the same sandbox: no violation over several rotations, every change and write checked, every promoted version recorded', async () => {
    const { sandbox, credential, runtime } = await twoClusterSandbox();
    const checker = attachInvariantChecker(sandbox, [credential]);
    cleanups.push(() => checker.stop());
    const rotationIds: string[] = [];
    for (let i = 0; i < 3; i++) {
      const rotationId = randomUUID();
      rotationIds.push(rotationId);
      const result = await runtime.engine.rotate({ credential, mode: 'manual', rotationId });
      expect(result.outcome).toBe('rotated');
    }
    // The soak counts a killed rotation whose version was promoted as ended (its job may be gone).
    expect([...checker.promotedVersionIds]).toEqual(rotationIds);
    expect(checker.violations).toEqual([]);
    expect(checker.checked.clusterChanges).toBe(6);
    expect(checker.checked.secretsWrites).toBe(6);
    expect(endState(sandbox, [credential])).toEqual({ lost: [], notCurrent: [] });
  });
});

describe('chaos checker: outcomes judged against the state at their instant, and the end state', () => {
  it('finds a lockout after rotated, a lost password, and tells true needs_attention reasons from false ones', async () => {
    const { sandbox, credential, runtime } = await twoClusterSandbox();
    const checker = attachInvariantChecker(sandbox, [credential]);
    cleanups.push(() => checker.stop());
    await runtime.engine.rotate({ credential, mode: 'manual', rotationId: randomUUID() });
    await sleep(5);
    const outcome = (over: Partial<LoggedOutcome>): LoggedOutcome => ({ credential: 'app', rotationId: randomUUID(), outcome: 'rotated', reason: 'ok', mode: 'manual', at: Date.now(), ...over });
    const cleanEnd = outcome({});
    await sleep(5);

    // West one step behind: still a stored password (no violation), but not AWSCURRENT.
    const labels = labelledPasswords(sandbox, credential.secretId);
    sandbox.clusters.get('west')?.setPassword(credential.username, labels.previous ?? '');
    await sleep(5);
    const behind = outcome({});
    const falseAlarm = outcome({ outcome: 'needs_attention', reason: 'unknown_password' });
    // A leak said contained while east still holds the leaked password (AWSCURRENT): false.
    const falselyContained = outcome({ outcome: 'needs_attention', reason: 'cluster_unreachable', mode: 'leak', error: 'leak contained (every cluster rejects the leaked password), but not promoted: east: unreachable (...)' });
    await sleep(5);
    // East on a password nobody stored: a violation at the change, lost at the end.
    sandbox.clusters.get('east')?.setPassword(credential.username, generatePassword(credential.password));
    await sleep(5);
    const trueAlarm = outcome({ outcome: 'needs_attention', reason: 'unknown_password' });
    // No cluster holds AWSCURRENT any more: the same claims are true now.
    const contained = outcome({ outcome: 'needs_attention', reason: 'verify_failed', mode: 'leak', error: 'leak contained (every cluster rejects the leaked password), but not promoted: west: verify_failed (...)' });
    const containedUnreachable = { ...falselyContained, rotationId: randomUUID(), at: contained.at };

    const judged = judgeOutcomes([cleanEnd, behind, falseAlarm, falselyContained, trueAlarm, contained, containedUnreachable], sandbox.config.credentials, checker);
    expect(judged.lockouts).toEqual([{ credential: 'app', rotationId: behind.rotationId, outcome: 'rotated', reason: 'ok', cluster: 'west', holds: 'AWSPREVIOUS' }]);
    expect(judged.needsAttention.map((n) => [n.rotationId, n.truth])).toEqual([
      [falseAlarm.rotationId, 'false'],
      [falselyContained.rotationId, 'false'],
      [trueAlarm.rotationId, 'true'],
      [contained.rotationId, 'true'],
      [containedUnreachable.rotationId, 'true'],
    ]);
    expect(checker.violations.map((v) => [v.kind, v.cluster])).toEqual([['cluster-change', 'east']]);
    expect(endState(sandbox, [credential])).toEqual({
      lost: [{ credential: 'app', cluster: 'east', holds: 'no label' }],
      notCurrent: [
        { credential: 'app', cluster: 'west', holds: 'AWSPREVIOUS' },
        { credential: 'app', cluster: 'east', holds: 'no label' },
      ],
    });
  });
});

describe('chaos checker: alternating credentials, per user', () => {
  async function alternating(graceMs: number): Promise<Awaited<ReturnType<typeof startAlternatingFixture>>> {
    const fixture = await startAlternatingFixture({ clusters: ['west', 'east'], graceMs });
    cleanups.push(() => fixture.close());
    return fixture;
  }

  it('a broken strategy that changes the AWSCURRENT user\'s password: a current-killed violation per cluster at the change, and the retired user\'s password lost', async () => {
    const fixture = await alternating(1_000);
    const checker = attachInvariantChecker(fixture.sandbox, [fixture.credential]);
    cleanups.push(() => checker.stop());
    // The single-user strategy on the alternating secret: it rotates app_a, the AWSCURRENT user, in place.
    const { usernames: _usernames, graceMs: _graceMs, strategy: _strategy, ...rest } = fixture.credential;
    const inPlace: SingleCredentialConfig = { ...rest, strategy: 'single', username: USER_A };
    const result = await fixture.engine().engine.rotate({ credential: inPlace, mode: 'manual', rotationId: randomUUID() });

    // Nothing the single-user checks would see: every new password was stored for app_a first.
    expect(result.outcome).toBe('rotated');
    expect(checker.violations.filter((v) => v.kind === 'cluster-change')).toEqual([]);
    expect(checker.violations.filter((v) => v.kind === 'current-killed').map((v) => [v.credential, v.cluster])).toEqual([
      ['app', 'west'],
      ['app', 'east'],
    ]);
    expect(checker.violations.find((v) => v.kind === 'current-killed')?.detail).toMatch(/AWSCURRENT user app_a/);
    // Promoting app_a's new version pushed app_b's password off AWSPREVIOUS while the clusters hold it.
    expect(checker.violations.filter((v) => v.kind === 'secrets-write').map((v) => v.cluster)).toEqual(['west', 'east']);
    expect(endState(fixture.sandbox, [fixture.credential]).lost).toEqual([
      { credential: 'app', cluster: 'west', user: USER_B, holds: 'no label' },
      { credential: 'app', cluster: 'east', user: USER_B, holds: 'no label' },
    ]);
  });

  it('an engine whose clock runs ahead kills the retired user within the grace: an early kill per cluster, a lockout unless a leak rotation was running', async () => {
    const fixture = await alternating(60_000);
    const checker = attachInvariantChecker(fixture.sandbox, [fixture.credential]);
    cleanups.push(() => checker.stop());
    // The fixture's engines run 3 h ahead: to them the grace is always over.
    const first = await fixture.rotate({ mode: 'scheduled' });
    const from = Date.now();
    const second = await fixture.rotate({ mode: 'scheduled' });
    const to = Date.now();
    expect([first.outcome, second.outcome]).toEqual(['rotated', 'rotated']);

    expect(checker.violations).toEqual([]);
    // The first rotation killed app_b's seeded password (retired when the checker began), the second app_a's, retired by the first a moment ago.
    expect(checker.earlyKills.map((k) => [k.user, k.cluster])).toEqual([
      [USER_B, 'west'],
      [USER_B, 'east'],
      [USER_A, 'west'],
      [USER_A, 'east'],
    ]);
    expect(checker.earlyKills.every((k) => k.sinceCreatedMs < 60_000 && k.graceMs === 60_000)).toBe(true);
    const window = { credential: 'app', rotationId: second.rotationId, from, to };
    expect(judgeEarlyKills(checker.earlyKills.slice(2), [{ ...window, mode: 'scheduled' }]).unexcused).toHaveLength(2);
    expect(judgeEarlyKills(checker.earlyKills.slice(2), [{ ...window, mode: 'leak' }])).toEqual({ excused: 2, unexcused: [] });
    expect(judgeEarlyKills(checker.earlyKills.slice(2), [{ ...window, credential: 'other', mode: 'leak' }]).unexcused).toHaveLength(2);
    expect(checker.retiredLifetimes.slice(2).every((l) => l.sinceRetiredMs < 60_000)).toBe(true);
  });

  it('judges from the promotion, not the creation: a rotation cut before its promotion and resumed past graceMs, then the next turn at once, is an early kill of the user that promotion retired', async () => {
    const fixture = await alternating(1_000);
    const checker = attachInvariantChecker(fixture.sandbox, [fixture.credential]);
    cleanups.push(() => checker.stop());
    // Written ahead and set on every cluster, then the lease is lost at the promotion.
    const rotationId = randomUUID();
    const cut = fixture.engine({
      fence: async (point) => {
        if (point.kind === 'secrets-write' && point.write === 'promote') throw new LeaseLostError('app');
      },
    });
    await expect(fixture.rotate({ mode: 'scheduled', rotationId, runtime: cut })).rejects.toBeInstanceOf(LeaseLostError);
    await sleep(1_100);
    // Resumed past graceMs after the write ahead; the engines' clock runs 3 h ahead, so the next turn comes at once.
    const resumed = await fixture.rotate({ mode: 'scheduled', rotationId });
    const from = Date.now();
    const next = await fixture.rotate({ mode: 'scheduled' });
    const to = Date.now();
    expect([resumed.outcome, next.outcome]).toEqual(['rotated', 'rotated']);
    expect(checker.violations).toEqual([]);

    // app_a was retired by the resumed promotion and killed by the next turn: past graceMs since
    // its version's creation (a check from there sees nothing), well within it since the promotion.
    const kills = checker.earlyKills.filter((k) => k.user === USER_A);
    expect(kills.map((k) => k.cluster)).toEqual(['west', 'east']);
    for (const k of kills) {
      expect(k.sinceCreatedMs).toBeGreaterThanOrEqual(1_000);
      expect(k.sinceRetiredMs).toBeLessThan(1_000);
    }
    expect(judgeEarlyKills(kills, [{ credential: 'app', rotationId: next.rotationId, mode: 'scheduled', from, to }]).unexcused).toEqual(kills);
    const lifetime = checker.retiredLifetimes.find((l) => l.at >= from);
    expect(lifetime?.promotionLagMs).toBeGreaterThanOrEqual(1_000);
    expect(lifetime?.sinceRetiredMs).toBeLessThan(1_000);
  });

  it('the healthy strategy past its grace, then a leak of the AWSCURRENT user (two turns): no violation, no lockout, the leak\'s early kills inside its window; a retired user knocked off AWSPREVIOUS is a lockout', async () => {
    const fixture = await alternating(1_000);
    fixture.clock.offsetMs = 0;
    const checker = attachInvariantChecker(fixture.sandbox, [fixture.credential]);
    cleanups.push(() => checker.stop());
    await sleep(1_050);
    const scheduled = await fixture.rotate({ mode: 'scheduled' });
    const refused = await fixture.rotate({ mode: 'manual' });
    expect([scheduled.outcome, refused.outcome, refused.reason]).toEqual(['rotated', 'failed', 'grace_not_elapsed']);
    expect(checker.earlyKills).toEqual([]);
    const from = Date.now();
    const leak = await fixture.rotate({ mode: 'leak' });
    const to = Date.now();
    expect(leak.outcome).toBe('rotated');
    expect(checker.violations).toEqual([]);
    expect(checker.earlyKills.length).toBeGreaterThan(0);
    expect(judgeEarlyKills(checker.earlyKills, [{ credential: 'app', rotationId: leak.rotationId, mode: 'leak', from, to }]).unexcused).toEqual([]);
    expect(endState(fixture.sandbox, [fixture.credential])).toEqual({ lost: [], notCurrent: [] });
    await sleep(5);
    const outcome = (over: Partial<LoggedOutcome>): LoggedOutcome => ({ credential: 'app', rotationId: randomUUID(), outcome: 'rotated', reason: 'ok', mode: 'manual', at: Date.now(), ...over });
    const clean = outcome({});
    expect(judgeOutcomes([clean], fixture.sandbox.config.credentials, checker).lockouts).toEqual([]);

    // The retired user on west knocked onto a password of nobody's: a violation, then a lockout of its consumers.
    const labels = labelledPasswords(fixture.sandbox, fixture.credential.secretId);
    const retired = labels.previousUser ?? '';
    expect(retired).not.toBe(labels.currentUser);
    await sleep(5);
    fixture.sandbox.clusters.get('west')?.setPassword(retired, generatePassword(fixture.credential.password));
    await sleep(5);
    const behind = outcome({});
    expect(judgeOutcomes([behind], fixture.sandbox.config.credentials, checker).lockouts).toEqual([
      { credential: 'app', rotationId: behind.rotationId, outcome: 'rotated', reason: 'ok', cluster: 'west', user: retired, holds: 'no label' },
    ]);
    expect(checker.violations.map((v) => [v.kind, v.cluster])).toEqual([['cluster-change', 'west']]);
    expect(endState(fixture.sandbox, [fixture.credential]).notCurrent).toEqual([{ credential: 'app', cluster: 'west', user: retired, holds: 'no label' }]);
    // roles_differ, whatever its message (finding 5: an unread users/describe was "role parity not
    // established"; it is roles_unknown now): false while both users hold the same roles, true once they differ.
    const rolesClaim = outcome({ outcome: 'needs_attention', reason: 'roles_differ', error: 'users app_a and app_b hold different roles (east: ...)' });
    const parity = outcome({ outcome: 'needs_attention', reason: 'roles_differ', mode: 'leak', error: 'leak contained (...), but not promoted: role parity not established: east: roles still differ after aligning' });
    const truths = (): string[] => judgeOutcomes([rolesClaim, parity], fixture.sandbox.config.credentials, checker).needsAttention.map((n) => n.truth);
    expect(truths()).toEqual(['false', 'false']);
    fixture.sandbox.clusters.get('east')?.setRoles(USER_B, ['app_rw', 'extra_role']);
    expect(truths()).toEqual(['true', 'true']);
  });

  it('roles_unknown and "leak contained" are judged by what the clusters hold: true for a real one (users/describe never answering), false once a cluster holds the leaked password again', async () => {
    const fixture = await alternating(1_000);
    const checker = attachInvariantChecker(fixture.sandbox, [fixture.credential]);
    cleanups.push(() => checker.stop());
    const west = fixture.sandbox.clusters.get('west');
    if (!west) throw new Error('no west');
    const leakedPassword = labelledPasswords(fixture.sandbox, fixture.credential.secretId).previous ?? '';
    const runtime = fixture.engine({
      fence: async (point) => {
        if (point.kind === 'step' && point.step === 'roles') west.injectFault({ route: 'users/describe', user: USER_B, times: 1_000, fault: { kind: 'status', status: 503 } });
      },
    });
    const result = await fixture.rotate({ mode: 'leak', leakedUsername: USER_B, runtime });
    expect(result).toMatchObject({ outcome: 'needs_attention', reason: 'roles_unknown' });
    expect(result.error).toMatch(/^leak contained/);
    await sleep(5);
    const logged = (over: Partial<LoggedOutcome>): LoggedOutcome => ({ credential: 'app', rotationId: result.rotationId, outcome: result.outcome, reason: result.reason, mode: result.mode, at: Date.now(), ...(result.error ? { error: result.error } : {}), ...over });
    const real = logged({});
    const unreachable = logged({ reason: 'cluster_unreachable' });
    await sleep(5);
    // West back on the retired user's old (leaked) password: still stored (AWSPREVIOUS), so no violation.
    west.setPassword(USER_B, leakedPassword);
    await sleep(5);
    const after = logged({});
    const unreachableAfter = logged({ reason: 'cluster_unreachable' });
    expect(judgeOutcomes([real, unreachable, after, unreachableAfter], fixture.sandbox.config.credentials, checker).needsAttention.map((n) => n.truth)).toEqual(['true', 'true', 'false', 'false']);
    expect(checker.violations).toEqual([]);
  });
});

describe('chaos checker: reconcile drift reports judged at their instant', () => {
  it('a drift report is false while every cluster holds AWSCURRENT, true once a cluster holds another password and no rotation is under way', async () => {
    const { sandbox, credential, runtime } = await twoClusterSandbox();
    const checker = attachInvariantChecker(sandbox, [credential]);
    cleanups.push(() => checker.stop());
    await runtime.engine.rotate({ credential, mode: 'manual', rotationId: randomUUID() });
    await sleep(5);
    const falseReport = { credential: 'app', status: 'drift', clusters: { west: 'rejected', east: 'accepted' }, at: Date.now() };
    await sleep(5);
    sandbox.clusters.get('west')?.setPassword(credential.username, generatePassword(credential.password));
    await sleep(5);
    const trueReport = { ...falseReport, at: Date.now() };
    expect(judgeReports([falseReport, trueReport], sandbox.config.credentials, checker).map((r) => r.truth)).toEqual(['false', 'true']);
  });
});

describe('chaos sandbox: fault accounting', () => {
  it('counts each injected Milvus fault by kind exactly as a client receives them', async () => {
    const config = makeConfig(['c1'], [{ id: 'a', username: 'user_a', clusters: ['c1'] }]);
    const sandbox = await startChaosSandbox(config, { seed: 42 });
    cleanups.push(() => sandbox.close());
    const simulator = sandbox.clusters.get('c1');
    if (!simulator) throw new Error('no simulator');
    const password = simulator.passwordOf('user_a') ?? '';
    sandbox.setFaults({ milvus: { rate5xx: 0.2, rateAmbiguous: 0.3, latencyJitterMs: 3 }, secrets: { rateThrottle: 0, latencyJitterMs: 0 } });
    const seen = { gateway5xx: 0, 'applied-then-408': 0, 'applied-then-65535': 0, 'applied-then-drop': 0, 'applied-then-5xx': 0, ok: 0 };
    for (let i = 0; i < 300; i++) {
      try {
        const res = await fetch(`${simulator.url}/v2/vectordb/collections/list`, {
          method: 'POST',
          headers: { authorization: `Bearer user_a:${password}`, 'content-type': 'application/json' },
          body: '{}',
        });
        const text = await res.text();
        if (res.status === 503) seen.gateway5xx++;
        else if (res.status === 408) seen['applied-then-408']++;
        else if (res.status === 502) seen['applied-then-5xx']++;
        else if (text.includes('"code":65535')) seen['applied-then-65535']++;
        else seen.ok++;
      } catch {
        seen['applied-then-drop']++;
      }
    }
    sandbox.setFaults(null);
    const counts = sandbox.faultCounts();
    expect(counts.milvus.gateway5xx).toBe(seen.gateway5xx);
    for (const kind of AMBIGUOUS_KINDS) expect(counts.milvus.ambiguous[kind as AmbiguousKind], kind).toBe(seen[kind]);
    expect(counts.milvus.gatewayRolls).toBe(300);
    // Every request that passed the gateway reached a handler (a correct probe), drew a jitter and succeeded.
    expect(counts.milvus.jitteredRequests).toBe(300 - seen.gateway5xx);
    expect(counts.milvus.ambiguousRolls).toBe(300 - seen.gateway5xx);
    expect(counts.accountingConsistent).toBe(true);
    expect(seen.gateway5xx).toBeGreaterThan(20);
    expect(Object.values(counts.milvus.ambiguous).reduce((a, b) => a + b, 0)).toBeGreaterThan(20);
  });
});

describe('chaos exposure scanner', () => {
  it('finds exactly what findExposures finds, in every form, and nothing in clean text', () => {
    const users = ['app_user', 'svc-7', 'root'];
    const passwords = Array.from({ length: 60 }, () => generatePassword({ length: 32, symbols: '!#%*+-=?@^_~' }));
    passwords.push('Wrong-Qm9vYmFyYmF6cXV4cXV1eA', 'quote"and\\slash-1A');
    const encoders: ((p: string, u: string) => string)[] = [
      (p) => p,
      (p) => Buffer.from(p).toString('base64'),
      (p) => Buffer.from(p).toString('base64url'),
      (p) => encodeURIComponent(p),
      (p) => JSON.stringify(p),
      (p, u) => `${u}:${p}`,
      (p, u) => Buffer.from(`${u}:${p}`).toString('base64'),
    ];
    const filler = (n: number): string => Array.from({ length: n }, (_, i) => 'abcdefghij klmnopqrstuvwxyz0123456789{}":,'.charAt((i * 7) % 43)).join('');
    const haystacks: string[] = [];
    for (let i = 0; i < 40; i++) {
      const clean = i % 3 === 0;
      const password = passwords[i % passwords.length] ?? '';
      const encoded = clean ? '' : (encoders[i % encoders.length] ?? ((p: string) => p))(password, users[i % users.length] ?? 'root');
      haystacks.push(`${filler(50 + i)}${encoded}${filler(20)}`);
    }
    // A near miss: a password with its last character changed is not a hit.
    haystacks.push(`x ${(passwords[0] ?? '').slice(0, -1)}\u0000 y`);

    const reference = findExposures(haystacks, passwords, users);
    const scanner = new ExposureScanner(passwords, users);
    const fast = scanner.scan(haystacks.map((text, index) => ({ source: `#${index}`, text })));
    const asReference = [...new Set(fast.map((hit) => `haystack ${hit.source} holds a password (${hit.form})`))].sort();
    expect(asReference).toEqual([...new Set(reference)].sort());
    expect(reference.length).toBeGreaterThan(20);
    expect(fast.some((hit) => hit.source === `#${haystacks.length - 1}`)).toBe(false);
  });
});
