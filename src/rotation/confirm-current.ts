import { probeUntil } from './cluster-calls.ts';
import type { RotationRun } from './rotation-run.ts';
import type { CredentialSecret } from './secret-value.ts';
import type { StrategyContext } from './strategy.ts';
import { CLUSTER_STATE, OUTCOME, REASON, type RotationResult } from './types.ts';

/** Why there is nothing to write: the rotation finished earlier, or `recover` found nothing pending. */
export type NothingToWrite = typeof REASON.alreadyRotated | typeof REASON.nothingPending;

/**
 * Nothing to write, for every strategy: probe AWSCURRENT (its user and password) on every cluster,
 * retried like verification, and report. The cases:
 *  1. every cluster accepts it: rotated with `reason`; each cluster `updated` when the rotation
 *     changed it earlier (already_rotated), `unchanged` when nothing was pending (nothing_pending);
 *  2. a cluster rejects it: needs_attention, unknown_password (drift: the cluster holds a
 *     password that is not AWSCURRENT's, a human must look);
 *  3. otherwise a cluster gave no answer: failed, cluster_unreachable. AWSCURRENT is not proven
 *     live there, but nothing says it is not: a silence is nearly always transient and does not
 *     page (docs/design.md section 5, failure policy).
 */
export async function confirmCurrentAccepted(ctx: StrategyContext, run: RotationRun, current: CredentialSecret, reason: NothingToWrite): Promise<RotationResult> {
  const names = run.req.credential.clusters;
  const answers = await Promise.all(names.map(async (name) => [name, await probeUntil(ctx, name, current.username, current.password, 'accepted')] as const));
  for (const [name, answer] of answers) {
    run.setCluster(
      name,
      answer === 'accepted'
        ? { state: reason === REASON.alreadyRotated ? CLUSTER_STATE.updated : CLUSTER_STATE.unchanged }
        : answer === 'rejected'
          ? { state: CLUSTER_STATE.unknownPassword, detail: 'AWSCURRENT is rejected' }
          : { state: CLUSTER_STATE.unreachable, mayHoldNew: false, detail: 'no answer to the AWSCURRENT probe' },
    );
  }
  // Case 1.
  if (answers.every(([, answer]) => answer === 'accepted')) return run.result(OUTCOME.rotated, reason);
  // Case 2.
  const rejecting = answers.filter(([, answer]) => answer === 'rejected').map(([name]) => name);
  if (rejecting.length > 0) {
    const context = reason === REASON.alreadyRotated ? 'this rotation was already promoted' : 'nothing is pending';
    return run.result(OUTCOME.needsAttention, REASON.unknownPassword, `${context}, but ${rejecting.join(', ')} does not accept AWSCURRENT`);
  }
  // Case 3.
  return run.result(OUTCOME.failed, REASON.clusterUnreachable, `no answer from ${answers.filter(([, a]) => a === 'unknown').map(([n]) => n).join(', ')}`);
}
