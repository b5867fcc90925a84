import type { RotationRun } from './rotation-run.ts';
import type { StrategyContext } from './strategy.ts';
import { CLUSTER_STATE } from './types.ts';

/**
 * Leak mode's forward passes, the same for both strategies: a leaked password must die on every
 * cluster that can be reached, and is never restored. After the set step's first pass, the
 * clusters that gave no clear answer (unreachable: they hold the old or the new password) are set
 * again, at most `tuning.leakForwardPasses` times, after 2, 4, 8... x `retryDelayMs`. A cluster
 * that answered is not: a refusal (its password policy, missing privileges) or a password the
 * rotator does not hold would be answered the same way again, and the report
 * (leak_not_contained) should not wait for it. `setAgain` sets the named clusters as on resume
 * (probing the new password first: an earlier attempt may have gone through).
 */
export async function leakForwardPasses(ctx: StrategyContext, run: RotationRun, setAgain: (names: string[]) => Promise<unknown>): Promise<void> {
  for (let pass = 1; pass <= ctx.tuning.leakForwardPasses; pass++) {
    const stuck = run.inState(CLUSTER_STATE.unreachable);
    if (stuck.length === 0) return;
    await ctx.sleep(ctx.tuning.retryDelayMs * 2 ** pass);
    await setAgain(stuck);
  }
}
