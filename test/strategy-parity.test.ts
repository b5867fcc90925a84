/**
 * The two strategies side by side, where they must behave alike: the dry run of a rotation id
 * that was already promoted, the confirmation of a rotation that already finished (a job run
 * again: BullMQ is at least once) or of `recover` with nothing pending, and a leak rotation whose
 * promotion fails (the worker runs it again with the same rotation id), and leak mode's forward
 * passes (which clusters are set again). Each case runs on a
 * single-user credential and on an alternating one (sandbox: real clients over HTTP, the
 * simulators, the Secrets Manager emulator), with the same expectations.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { CredentialConfig } from '../src/config/types.ts';
import type { EngineRuntime } from '../src/rotation/create-engine.ts';
import type { EngineTuning } from '../src/rotation/engine.ts';
import { FINISH_RETRY, rotateUntilFinished } from '../src/rotation/finish-retry.ts';
import type { Mode, RotationEvent, RotationResult } from '../src/rotation/types.ts';
import type { Sandbox } from '../src/sandbox/sandbox.ts';
import { STAGE } from '../src/secrets/types.ts';
import { USER_B, startAlternatingFixture } from './helpers/alternating-fixture.ts';
import { assertEndInvariants, credentialUnder, watchStoredPasswordInvariant } from './helpers/invariants.ts';
import { startRotationFixture } from './helpers/rotation-fixture.ts';

/** What a test needs of either fixture. */
interface Subject {
  sandbox: Sandbox;
  credential: CredentialConfig;
  engine: (tuning?: Partial<EngineTuning>) => EngineRuntime;
  rotate: (options?: { mode?: Mode; rotationId?: string; recover?: boolean }) => Promise<RotationResult>;
  /** Leak mode as one turn: the single user, or the alternating credential's retired user named by the alert. */
  leakRequest: (rotationId: string) => { credential: CredentialConfig; mode: 'leak'; rotationId: string; leakedUsername?: string };
  /** The user a one-turn leak rotation changes. */
  leakedUser: string;
  /** Every event of every engine of the fixture. */
  events: RotationEvent[];
  close: () => Promise<void>;
}

const STRATEGIES = ['single', 'alternating'] as const;

async function subject(strategy: (typeof STRATEGIES)[number]): Promise<Subject> {
  const clusters = ['west', 'east'];
  if (strategy === 'single') {
    const f = await startRotationFixture({ clusters });
    return {
      sandbox: f.sandbox,
      credential: f.credential,
      engine: (tuning) => f.engine({ ...(tuning ? { tuning } : {}) }),
      rotate: (o) => f.rotate(o),
      leakRequest: (rotationId) => ({ credential: f.credential, mode: 'leak', rotationId }),
      leakedUser: f.credential.username,
      events: f.events,
      close: f.close,
    };
  }
  // Past the grace (the fixture's clock runs 3 h ahead); AWSCURRENT app_a, AWSPREVIOUS app_b.
  const f = await startAlternatingFixture({ clusters });
  return {
    sandbox: f.sandbox,
    credential: f.credential,
    engine: (tuning) => f.engine({ ...(tuning ? { tuning } : {}) }),
    rotate: (o) => f.rotate(o),
    leakRequest: (rotationId) => ({ credential: f.credential, mode: 'leak', rotationId, leakedUsername: USER_B }),
    leakedUser: USER_B,
    events: f.events,
    close: f.close,
  };
}

let open: Subject | null = null;
let watch: { violations: string[]; stop: () => void } | null = null;
afterEach(async () => {
  watch?.stop();
  watch = null;
  await open?.close();
  open = null;
});

async function start(strategy: (typeof STRATEGIES)[number]): Promise<Subject> {
  open = await subject(strategy);
  watch = watchStoredPasswordInvariant(open.sandbox, open.credential);
  return open;
}

function sim(s: Subject, cluster: string) {
  const simulator = s.sandbox.clusters.get(cluster);
  if (!simulator) throw new Error(`no simulator ${cluster}`);
  return simulator;
}

function writes(s: Subject): number {
  return s.sandbox.emulator.callCount('PutSecretValue') + s.sandbox.emulator.callCount('UpdateSecretVersionStage');
}

function current(s: Subject): { username: string; password: string } {
  const value = credentialUnder(s.sandbox, s.credential.secretId, STAGE.current);
  if (!value) throw new Error('no AWSCURRENT');
  return value;
}

describe.each(STRATEGIES)('%s strategy', (strategy) => {
  describe('when the rotation id was already promoted', () => {
    it('the dry run says nothing (outcome rotated, already_rotated), not refuse, and writes nothing', async () => {
      const s = await start(strategy);
      const rotationId = randomUUID();
      expect((await s.rotate({ rotationId })).outcome).toBe('rotated');
      const before = writes(s);
      const plan = await s.engine().engine.plan({ credential: s.credential, mode: 'manual', rotationId });
      expect(plan).toMatchObject({ dryRun: true, strategy, action: 'nothing', outcome: 'rotated', reason: 'already_rotated', currentVersionId: rotationId });
      expect(writes(s)).toBe(before);
    });

    it('run again (a job retried) with a cluster silent on the AWSCURRENT probe: failed, cluster_unreachable, not needs_attention', async () => {
      const s = await start(strategy);
      const rotationId = randomUUID();
      expect((await s.rotate({ rotationId })).outcome).toBe('rotated');
      sim(s, 'east').injectFault({ route: 'probe', user: current(s).username, times: 50, fault: { kind: 'status', status: 503 } });
      const again = await s.rotate({ rotationId });
      expect(again).toMatchObject({ outcome: 'failed', reason: 'cluster_unreachable', versionId: rotationId, clusters: { west: 'updated', east: 'unreachable' } });
      expect(again.error).toMatch(/no answer from east/);
    });

    it('run again with a cluster that rejects AWSCURRENT: needs_attention, unknown_password, naming the cluster', async () => {
      const s = await start(strategy);
      const rotationId = randomUUID();
      expect((await s.rotate({ rotationId })).outcome).toBe('rotated');
      watch?.stop(); // the change by hand below breaks the stored-password invariant on purpose
      sim(s, 'east').setPassword(current(s).username, 'Changed-By-Hand-123!');
      const again = await s.rotate({ rotationId });
      expect(again).toMatchObject({ outcome: 'needs_attention', reason: 'unknown_password', clusters: { west: 'updated', east: 'unknown_password' } });
      expect(again.error).toMatch(/this rotation was already promoted, but east does not accept AWSCURRENT/);
    });
  });

  describe('when recover finds nothing pending', () => {
    it('rotated, nothing_pending, every cluster unchanged, nothing written', async () => {
      const s = await start(strategy);
      const result = await s.rotate({ recover: true });
      expect(result).toMatchObject({ outcome: 'rotated', reason: 'nothing_pending', clusters: { west: 'unchanged', east: 'unchanged' } });
      expect(writes(s)).toBe(0);
    });

    it('a cluster with authentication off: failed, auth_disabled (its acceptance proves nothing), nothing written', async () => {
      const s = await start(strategy);
      sim(s, 'east').setAuthEnabled(false);
      const result = await s.rotate({ recover: true });
      expect(result).toMatchObject({ outcome: 'failed', reason: 'auth_disabled', clusters: { east: 'auth_disabled' } });
      expect(writes(s)).toBe(0);
      const plan = await s.engine().engine.plan({ credential: s.credential, mode: 'manual', rotationId: randomUUID(), recover: true });
      expect(plan).toMatchObject({ action: 'refuse', outcome: 'failed', reason: 'auth_disabled' });
    });
  });

  describe('when a leak rotation cannot move AWSCURRENT', () => {
    it('promote_failed with AWSPENDING kept and every cluster on the new password; the same rotation id run again promotes it', async () => {
      const s = await start(strategy);
      const leaked = strategy === 'single' ? current(s) : credentialUnder(s.sandbox, s.credential.secretId, STAGE.previous);
      if (!leaked) throw new Error('no leaked credential');
      // 500 on every SDK attempt of the move (a throttled one is retried through the fence instead: write-retry.ts).
      s.sandbox.emulator.injectFault({ op: 'UpdateSecretVersionStage', times: s.sandbox.config.aws.maxAttempts, fault: { kind: 'status', status: 500 } });
      const rotationId = randomUUID();
      const runtime = s.engine();
      const seen: RotationResult[] = [];
      const sleeps: number[] = [];
      const { result } = await rotateUntilFinished(
        async (req) => {
          const out = await runtime.engine.rotate(req);
          seen.push(out);
          if (seen.length === 1) {
            // The first run: every cluster holds the new password, recorded under AWSPENDING; the leaked one is dead.
            const pending = credentialUnder(s.sandbox, s.credential.secretId, STAGE.pending);
            for (const name of ['west', 'east']) {
              expect(sim(s, name).passwordOf(leaked.username)).toBe(pending?.password);
              expect(sim(s, name).passwordOf(leaked.username)).not.toBe(leaked.password);
            }
          }
          return out;
        },
        s.leakRequest(rotationId),
        { attempts: 3, sleep: async (ms) => void sleeps.push(ms) },
      );
      expect(seen.map((r) => [r.outcome, r.reason])).toEqual([
        ['needs_attention', 'promote_failed'],
        ['rotated', 'ok'],
      ]);
      expect(seen[0]?.error).toMatch(/AWSCURRENT did not move.*AWSPENDING kept: the same rotation promotes it when run again/);
      expect(sleeps).toEqual([FINISH_RETRY.baseDelayMs]);
      expect(result).toMatchObject({ outcome: 'rotated', versionId: rotationId });
      expect(current(s).username).toBe(leaked.username);
      expect(watch?.violations).toEqual([]);
      expect(assertEndInvariants(s.sandbox, s.credential, 'rotated')).toEqual([]);
    });
  });

  describe("leak mode's forward passes", () => {
    it('a cluster that gives no answer is set again once it answers: rotated', async () => {
      const s = await start(strategy);
      // Slow backoff: the first forward pass waits 2 x 150 ms, time enough to heal east after its first attempt ended.
      const runtime = s.engine({ retryDelayMs: 150 });
      sim(s, 'east').injectFault({ route: 'any', user: s.leakedUser, times: 1_000, fault: { kind: 'status', status: 503 } });
      const rotation = runtime.engine.rotate(s.leakRequest(randomUUID()));
      // Heal east once the set step's first pass has given up on it (unreachable), before the forward pass.
      const deadline = Date.now() + 10_000;
      const unreachable = () => s.events.some((e) => e.type === 'cluster' && e.cluster === 'east' && e.state === 'unreachable');
      while (!unreachable() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
      expect(unreachable()).toBe(true);
      sim(s, 'east').clearFaults();
      const result = await rotation;
      expect(result).toMatchObject({ outcome: 'rotated', clusters: { west: 'updated', east: 'updated' } });
      expect(assertEndInvariants(s.sandbox, s.credential, 'rotated')).toEqual([]);
    });

    it('a cluster that refuses (password policy) is not asked again: needs_attention, leak_not_contained, one update_password there', async () => {
      const s = await start(strategy);
      sim(s, 'east').injectFault({
        route: 'update_password',
        times: 1_000,
        fault: { kind: 'reply', status: 200, body: JSON.stringify({ code: 1100, message: 'invalid password length: invalid parameter[80 out of range 6 <= value <= 72]' }) },
      });
      const result = await s.engine().engine.rotate(s.leakRequest(randomUUID()));
      expect(result).toMatchObject({ outcome: 'needs_attention', reason: 'leak_not_contained', clusters: { west: 'updated', east: 'refused' } });
      expect(sim(s, 'east').requestCount('update_password')).toBe(1);
      expect(watch?.violations).toEqual([]);
    });
  });
});
