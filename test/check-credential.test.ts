import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { checkCredential, exitCodeOfCheck, pendingVerdict } from '../src/rotation/check-credential.ts';
import type { PendingOwner } from '../src/rotation/strategy.ts';
import { startRotationFixture, type RotationFixture } from './helpers/rotation-fixture.ts';

let fixture: RotationFixture | null = null;
afterEach(async () => {
  await fixture?.close();
  fixture = null;
});

describe('checkCredential (verify, reconcile)', () => {
  it('does not call a credential drifted when a rotation moves its labels between the read and the probes', async () => {
    const f = (fixture = await startRotationFixture({ clusters: ['west'] }));
    const runtime = f.engine();
    const west = f.sandbox.clusters.get('west')!;
    // The check's AWSCURRENT read is slow (as after an SDK backoff); its DescribeSecret is not.
    f.sandbox.emulator.injectFault({ op: 'GetSecretValue', secretId: f.credential.secretId, fault: { kind: 'latency', ms: 400 } });
    const describesBefore = f.sandbox.emulator.callCount('DescribeSecret');
    const check = checkCredential({ store: runtime.store, cluster: runtime.cluster, staleAfterMs: 600_000 }, f.credential);
    while (f.sandbox.emulator.callCount('DescribeSecret') === describesBefore) await new Promise((resolve) => setTimeout(resolve, 1));
    await new Promise((resolve) => setTimeout(resolve, 20)); // the check holds labels without a pending version
    // A healthy rotation sets the cluster while the check waits; its verification probe is held.
    west.injectFault({ route: 'probe', fault: { kind: 'latency', ms: 800 } });
    const rotation = f.rotate({ runtime, mode: 'scheduled', rotationId: randomUUID() });

    const verdict = await check;
    expect((await rotation).outcome).toBe('rotated');
    expect(verdict.clusters.west).toBe('rejected');
    expect(verdict.status).toBe('in_progress');
  });

  it('still calls a credential drifted when a cluster rejects AWSCURRENT and nothing moved', async () => {
    const f = (fixture = await startRotationFixture({ clusters: ['west'] }));
    f.sandbox.clusters.get('west')!.setPassword(f.credential.username, 'Changed-By-Hand-42!');
    const runtime = f.engine();
    const verdict = await checkCredential({ store: runtime.store, cluster: runtime.cluster }, f.credential);
    expect(verdict.status).toBe('drift');
    expect(verdict.error).toMatch(/rejected by west/);
  });
});

describe('pendingVerdict: what a pending version makes of a check', () => {
  const LEASE = 600_000;
  const owners: PendingOwner[] = ['running', 'ended', 'unknown'];
  // Every age class against every owner: [age, owner] -> status, why.
  const cases: { ageMs: number | null; owner: PendingOwner; status: string; why: string | null }[] = [];
  for (const owner of owners) {
    for (const ageMs of [null, LEASE, LEASE + 1]) cases.push({ ageMs, owner, status: 'stale_pending', why: 'age' }); // case 1
    for (const ageMs of [0, LEASE - 1]) cases.push({ ageMs, owner, status: owner === 'ended' ? 'stale_pending' : 'in_progress', why: owner === 'ended' ? 'ended' : null }); // cases 2, 3
  }
  for (const c of cases) {
    it(`age ${c.ageMs ?? 'unknown'}, owner ${c.owner}: ${c.status}${c.why ? ` (${c.why})` : ''}`, () => {
      expect(pendingVerdict({ ageMs: c.ageMs, staleAfterMs: LEASE, owner: c.owner })).toEqual({ status: c.status, why: c.why });
    });
  }

  it('a young pending version of an ended rotation exits 1 (rolled back or failed), not 0', () => {
    expect(exitCodeOfCheck(pendingVerdict({ ageMs: 5_000, staleAfterMs: LEASE, owner: 'ended' }).status)).toBe(1);
    expect(exitCodeOfCheck(pendingVerdict({ ageMs: 5_000, staleAfterMs: LEASE, owner: 'running' }).status)).toBe(0);
    expect(exitCodeOfCheck(pendingVerdict({ ageMs: 5_000, staleAfterMs: LEASE, owner: 'unknown' }).status)).toBe(0);
  });
});
