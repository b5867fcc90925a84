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
 *     the passwords its own way: AWSCURRENT for one user, AWSPREVIOUS for the retired one), or
 *     that the probe after the change got no clear answer.
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
      const check = result.kind === 'changed' ? await probeUntil(ctx, name, user, passwords.old, 'accepted') : null;
      if (check === 'accepted') {
        run.setCluster(name, { state: CLUSTER_STATE.rolledBack }); // case 2
        return true;
      }
      // Case 3. No clear answer is not a rejection: say which it was.
      run.setCluster(name, { state: CLUSTER_STATE.rollbackFailed, detail: check === 'unknown' ? 'no clear answer to the probe of the old password after the roll back' : failureDetail(result) });
      return false;
    }),
  );
  return back.every(Boolean) ? { ok: true } : { stop: true };
}
