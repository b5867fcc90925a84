/**
 * The short form of bench/consumer-impact: a few rotations with a few consumers per policy, the
 * same core as the long form. It pins the zero-failure rows (single + the helper: no failure
 * reaches the caller, at most one read beyond the one a rotation needs; alternating + ttl shorter
 * than grace, and alternating + the helper: no failed request) and that the bench does see
 * failures where a policy has them (read-once), so a zero cannot come from a bench that measures
 * nothing.
 */
import { describe, expect, it } from 'vitest';
import { POLICIES, runConsumerImpact, type PolicyResult } from '../bench/consumer-impact-core.ts';

/** 12 consumers (3 per policy) at 20 req/s, 4 rotations 600 ms apart, 2 clusters. */
const SHORT = { consumers: 12, ratePerSecond: 20, rotations: 4, rotationIntervalMs: 600, clusters: 2, policies: POLICIES } as const;

describe('bench/consumer-impact, short form (single strategy)', () => {
  it('the helper keeps every caller whole through every rotation; read-once does not', async () => {
    const result = await runConsumerImpact({ ...SHORT, ttlMs: 150, helperCacheMs: 150, graceMs: 500, strategy: 'single' });
    // A rotation the loaded machine makes fail (a probe timing out) is the engine's business, not the consumers'.
    expect(result.rotations.rotated, JSON.stringify(result.rotations)).toBeGreaterThanOrEqual(3);
    const row = (policy: string) => result.policies.find((p) => p.policy === policy) as PolicyResult;
    const helper = row('helper');
    expect(helper.requests).toBeGreaterThan(3 * 4 * 3);
    expect(helper.failedRequests).toBe(0);
    // Every rotation kills the password each helper holds: one hidden retry per consumer per rotation.
    expect(helper.hiddenRetriesPerRotation).toBeGreaterThanOrEqual(3);
    expect(helper.maxReadsPerConsumerPerRotation).toBeLessThanOrEqual(2);
    expect(helper.readsPerConsumerPerRotation).toBeGreaterThanOrEqual(1);
    expect(row('read-once').failedRequests).toBeGreaterThan(0);
    expect(row('read-once').readsPerConsumerPerRotation).toBe(0);
    expect(row('ttl').readsPerConsumerPerRotation).toBeGreaterThan(1);
  }, 25_000);
});

describe('bench/consumer-impact, short form (alternating strategy)', () => {
  it('ttl shorter than grace and the helper lose no request; read-once fails once its user is rotated again', async () => {
    const result = await runConsumerImpact({ ...SHORT, ttlMs: 100, helperCacheMs: 100, graceMs: 300, strategy: 'alternating' });
    expect(result.rotations, JSON.stringify(result.rotations)).toEqual({ rotated: 4, other: {} });
    const row = (policy: string) => result.policies.find((p) => p.policy === policy) as PolicyResult;
    for (const policy of ['ttl', 'helper']) {
      expect(row(policy).requests, policy).toBeGreaterThan(3 * 4 * 3);
      expect(row(policy).failedRequests, policy).toBe(0);
    }
    // When a rotation kills the helper's user, AWSCURRENT already names the other one: one read, no AWSPENDING.
    expect(row('helper').hiddenRetriesPerRotation).toBeLessThanOrEqual(3);
    expect(row('helper').maxReadsPerConsumerPerRotation).toBeLessThanOrEqual(1);
    expect(row('read-once').failedRequests).toBeGreaterThan(0);
  }, 25_000);
});
