/**
 * What an alternating credential's gauges are made of, without I/O: which facts a rotation's
 * result gives (alternatingStateOf: only a run that moved AWSCURRENT says who is where and when
 * the grace ends), and how the registry shows them (one series per configured user, the grace end
 * in unix seconds). The worker and reconcile record them: test/worker-alternating.int.test.ts and
 * test/reconcile.int.test.ts scrape them from there.
 */
import { describe, expect, it } from 'vitest';
import type { AlternatingCredentialConfig } from '../src/config/types.ts';
import { METRIC, RotatorMetrics, type FleetFacts } from '../src/observability/metrics.ts';
import { alternatingStateOf } from '../src/queue/credential-state.ts';
import { OUTCOME, REASON, type AlternatingSummary, type Outcome, type Reason, type RotationResult } from '../src/rotation/types.ts';
import { USER_A, USER_B, makeAlternatingConfig } from './helpers/alternating-fixture.ts';

const credential = makeAlternatingConfig(['west']).credentials['app'] as AlternatingCredentialConfig;
const GRACE_END = '2026-12-01T16:00:00.500Z';

function result(outcome: Outcome, reason: Reason, alternating?: Partial<AlternatingSummary>): RotationResult {
  return {
    credential: 'app',
    outcome,
    reason,
    mode: 'manual',
    rotationId: 'r-1',
    versionId: 'v-new',
    clusters: {},
    durationMs: 1,
    ...(alternating ? { alternating: { currentUser: USER_B, previousUser: USER_A, turns: 1, ...alternating } } : {}),
  };
}

describe('alternatingStateOf: what a rotation result records', () => {
  it('a promotion: the users, the grace end in unix seconds, and the promoted version', () => {
    expect(alternatingStateOf(credential, result(OUTCOME.rotated, REASON.ok, { graceEndsAt: GRACE_END }))).toEqual({
      activeUser: USER_B,
      retiredUser: USER_A,
      graceEndsAt: Math.floor(Date.parse(GRACE_END) / 1000),
      versionId: 'v-new',
    });
  });

  it("a leak whose first turn promoted and second failed: the users and grace end, no version (the result's is the second turn's)", () => {
    expect(alternatingStateOf(credential, result(OUTCOME.needsAttention, REASON.leakNotContained, { graceEndsAt: GRACE_END, turns: 2 }))).toMatchObject({ activeUser: USER_B, versionId: null });
  });

  it.each([
    ['no alternating summary', result(OUTCOME.rotated, REASON.ok)],
    ['an AWSCURRENT user that is not configured (username_mismatch)', result(OUTCOME.failed, REASON.usernameMismatch, { currentUser: 'stranger', graceEndsAt: GRACE_END })],
    ['an unreadable secret (no user)', result(OUTCOME.failed, REASON.secretsManagerError, { currentUser: '' })],
    ['finish_unknown: whether AWSCURRENT moved is not known', result(OUTCOME.needsAttention, REASON.finishUnknown, { graceEndsAt: GRACE_END })],
    ['a refusal by the grace: its end is the rule of the promotion recorded before', result(OUTCOME.failed, REASON.graceNotElapsed, { graceEndsAt: GRACE_END, notBefore: GRACE_END })],
    ['already rotated (an earlier run promoted and recorded it)', result(OUTCOME.rotated, REASON.alreadyRotated)],
    ['rolled back: AWSCURRENT did not move', result(OUTCOME.rolledBack, REASON.verifyFailed)],
  ])('%s: nothing', (_label, r) => {
    expect(alternatingStateOf(credential, r)).toBeNull();
  });
});

describe('RotatorMetrics: the alternating gauges', () => {
  function facts(alternating: FleetFacts['alternating']): FleetFacts {
    const none = new Map<string, number>();
    return { needsAttention: none, currentSince: none, pendingSince: none, maxAgeSeconds: none, lastRotation: none, alternating };
  }

  it('one series per configured user (1 for AWSCURRENT, 0 for the other) and the grace end; none for an unknown grace end', async () => {
    const metrics = new RotatorMetrics({ defaultMetrics: false });
    let source = facts(new Map([['app', { activeUser: USER_B, retiredUser: USER_A, graceEndsAt: 1_796_140_800 }], ['other', { activeUser: 'o_a', retiredUser: 'o_b', graceEndsAt: null }]]));
    metrics.setFleetSource(async () => source);
    const text = await metrics.registry.metrics();
    expect(text).toContain(`${METRIC.alternatingActiveUser}{credential="app",username="${USER_B}"} 1`);
    expect(text).toContain(`${METRIC.alternatingActiveUser}{credential="app",username="${USER_A}"} 0`);
    expect(text).toContain(`${METRIC.alternatingGraceEnd}{credential="app"} 1796140800`);
    expect(text).toContain(`${METRIC.alternatingActiveUser}{credential="other",username="o_a"} 1`);
    expect(text).not.toContain(`${METRIC.alternatingGraceEnd}{credential="other"}`);

    // The users swap: the series follow, none is left behind.
    source = facts(new Map([['app', { activeUser: USER_A, retiredUser: USER_B, graceEndsAt: 1_796_148_000 }]]));
    const next = await metrics.registry.metrics();
    expect(next).toContain(`${METRIC.alternatingActiveUser}{credential="app",username="${USER_A}"} 1`);
    expect(next).toContain(`${METRIC.alternatingActiveUser}{credential="app",username="${USER_B}"} 0`);
    expect(next).toContain(`${METRIC.alternatingGraceEnd}{credential="app"} 1796148000`);
    expect(next).not.toContain('credential="other"');
  });
});
