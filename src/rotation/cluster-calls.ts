import type { ClusterClient } from '../milvus/types.ts';
import { probeClearly, type ChangeOptions } from './change-password.ts';
import { fencePoint } from './fence-point.ts';
import type { Answer } from './resume-rules.ts';
import type { AuthCheck } from './rotation-run.ts';
import type { StrategyContext } from './strategy.ts';

/**
 * The calls a strategy makes to one cluster, with the engine's tuning (StrategyContext.tuning):
 * how a password change retries and is fenced, and the two ways of probing a password. Shared by
 * both strategies, which differ only in which user and password they pass.
 */

/** The options of changePassword on `cluster`: the engine's attempts and backoff, fenced before each write. */
export function changeOptions(ctx: StrategyContext, cluster: string): ChangeOptions {
  return {
    maxAttempts: ctx.tuning.changeAttempts,
    maxProbes: ctx.tuning.probeAttempts,
    retryDelayMs: ctx.tuning.retryDelayMs,
    sleep: ctx.sleep,
    beforeWrite: () => ctx.fence(fencePoint.clusterWrite(cluster)),
  };
}

/** The probe options alone (probes never write, so no fence). */
export function probeOptions(ctx: StrategyContext): Pick<ChangeOptions, 'maxProbes' | 'retryDelayMs' | 'sleep'> {
  return { maxProbes: ctx.tuning.probeAttempts, retryDelayMs: ctx.tuning.retryDelayMs, sleep: ctx.sleep };
}

/** A probe retried until it gets a clear answer (or the attempts run out: unknown). */
export async function probeClear(ctx: StrategyContext, client: ClusterClient, user: string, password: string): Promise<Answer> {
  const answer = await probeClearly(client, user, password, probeOptions(ctx));
  return typeof answer === 'object' ? 'unknown' : answer;
}

/**
 * Verification and confirmation probes: until the answer is `want` (retries for propagation: spec
 * section 8 allows 2-3 over about 1 s), each attempt a probe retried until it gets a clear answer
 * (probeClear: a gateway error or an ambiguous reply says nothing about the password). The result:
 *  1. `want`, as soon as an attempt gets it;
 *  2. else the other clear answer, when an attempt got one (the cluster said so, never `want`);
 *  3. else `unknown`: no attempt got a clear answer. Nothing is known about the password there,
 *     and the caller must not report it as the opposite of `want` (docs/reliability.md, finding 6:
 *     four unclear answers in a row were read as "the new password is not accepted").
 */
export async function probeUntil(ctx: StrategyContext, cluster: string, user: string, password: string, want: 'accepted' | 'rejected'): Promise<Answer> {
  const client = ctx.cluster(cluster);
  let clear: Answer = 'unknown';
  for (let i = 0; i < ctx.tuning.verifyAttempts; i++) {
    if (i > 0) await ctx.sleep(ctx.tuning.verifyDelayMs);
    const answer = await probeClear(ctx, client, user, password);
    if (answer === want) return answer; // case 1
    if (answer !== 'unknown') clear = answer;
  }
  return clear; // cases 2 and 3
}

/**
 * The authentication check of load: `user` with `wrong` (a password no cluster should accept) on
 * each of `clusters`, retried like every probe (one gateway error must not cost a rotation its turn).
 */
export function checkAuthentication(ctx: StrategyContext, clusters: readonly string[], user: string, wrong: string): Promise<AuthCheck[]> {
  return Promise.all(clusters.map(async (name) => ({ name, answer: await probeClearly(ctx.cluster(name), user, wrong, probeOptions(ctx)) })));
}
