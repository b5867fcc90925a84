import { changePassword, type ChangeResult } from './change-password.ts';
import { holdsOf } from './cluster-progress.ts';
import { changeOptions, probeClear, probeUntil } from './cluster-calls.ts';
import type { RotationRun, StepResult } from './rotation-run.ts';
import type { StrategyContext } from './strategy.ts';
import { CLUSTER_STATE } from './types.ts';

/**
 * Puts `user` back from the new password to `old` on every cluster that holds (or may hold) the
 * new one, and verifies each. The cases per cluster:
 *  1. its state was unknown and it accepts `old`: it never changed (unchanged), nothing written;
 *  2. changed back and `old` accepted: rolled_back;
 *  3. otherwise: rollback_failed, `failureDetail` of the change saying why (the strategy names
 *     the passwords its own way: AWSCURRENT for one user, AWSPREVIOUS for the retired one).
 * Ok when every cluster is back.
 */
export async function rollBackClusters(
  ctx: StrategyContext,
  run: RotationRun,
  user: string,
  passwords: { pending: string; old: string },
  failureDetail: (result: ChangeResult) => string,
): Promise<StepResult<true, true>> {
  const touched = run.holding('pending', 'unknown');
  const back = await Promise.all(
    touched.map(async (name) => {
      const client = ctx.cluster(name);
      // Case 1: a cluster whose state was unknown may never have changed: look before writing.
      if (holdsOf(run.clusters.get(name) ?? { state: CLUSTER_STATE.unchanged }) === 'unknown' && (await probeClear(ctx, client, user, passwords.old)) === 'accepted') {
        run.setCluster(name, { state: CLUSTER_STATE.unchanged });
        return true;
      }
      const result = await changePassword(client, user, passwords.pending, passwords.old, changeOptions(ctx, name));
      const verified = result.kind === 'changed' && (await probeUntil(ctx, name, user, passwords.old, 'accepted')) === 'accepted';
      run.setCluster(name, verified ? { state: CLUSTER_STATE.rolledBack } : { state: CLUSTER_STATE.rollbackFailed, detail: failureDetail(result) }); // cases 2 and 3
      return verified;
    }),
  );
  return back.every(Boolean) ? { ok: true } : { stop: true };
}
