import type { Answer, ResumeMove } from './resume-rules.ts';
import type { StrategyName } from './strategy.ts';
import { OUTCOME, type ClusterState, type Mode, type Outcome, type Reason, type RotationRequest, type RotationResult } from './types.ts';

/** What a dry run (`rotate --dry-run`, `recover --dry-run`) says the command would do. */
export const PLAN_ACTION = {
  /** Write a new password under AWSPENDING, set it on every cluster, verify, promote. */
  rotate: 'rotate',
  /** Finish the pending version already there (never a new password). */
  resume: 'resume',
  /** Stop at the load step with `outcome` and `reason` (nothing would be written). */
  refuse: 'refuse',
  /**
   * Nothing to do, nothing written, and the command succeeds: `recover` with nothing pending
   * (nothing_pending), or a rotation id whose version is already AWSCURRENT (already_rotated).
   */
  nothing: 'nothing',
} as const;
export type PlanAction = (typeof PLAN_ACTION)[keyof typeof PLAN_ACTION];

/**
 * The dry run's action, the same for every strategy, from what its load step gave. The cases:
 *  1. load stops with `rotated`: there is nothing to do (already_rotated: the rotation id was
 *     promoted earlier; nothing_pending: `recover` found nothing to finish, every cluster accepts
 *     AWSCURRENT): nothing. Not a refusal: the command ends successfully, having written nothing;
 *  2. load stops with any other outcome: refuse;
 *  3. load goes on, and a pending version with a value is there to finish: resume;
 *  4. load goes on with nothing to finish: rotate.
 */
export function planActionOf(stop: RotationResult | null, resumesPending: boolean): PlanAction {
  if (stop) return stop.outcome === OUTCOME.rotated ? PLAN_ACTION.nothing : PLAN_ACTION.refuse; // cases 1 and 2
  return resumesPending ? PLAN_ACTION.resume : PLAN_ACTION.rotate; // cases 3 and 4
}

/** One cluster as the dry run's probes saw it. */
export interface ClusterPlan {
  /** What the load step concluded (as in a result's `clusters`). */
  state: ClusterState;
  /** The probes: does the cluster accept AWSCURRENT, the pending password, AWSPREVIOUS? null: nothing to probe. */
  accepts: { current: Answer; pending: Answer | null; previous: Answer | null };
  /** What the set step would do there (the resume rules' first move), null when the run would not reach it. */
  next: ResumeMove | null;
}

/** The dry run's `--json` line. It holds no password. */
export interface RotationPlan {
  credential: string;
  dryRun: true;
  strategy: StrategyName;
  mode: Mode;
  action: PlanAction;
  /** The outcome the command would end with at once (refuse, nothing); null when it would go on. */
  outcome: Outcome | null;
  reason: Reason | null;
  currentVersionId: string | null;
  /** A pending version on another version than AWSCURRENT: whose it is and how old. */
  pending: { versionId: string; ageMs: number | null; hasValue: boolean } | null;
  clusters: Record<string, ClusterPlan>;
  error?: string;
}

/** What a strategy's dry run saw, to be reported as a RotationPlan. */
export interface PlanInput {
  req: RotationRequest;
  strategy: StrategyName;
  action: PlanAction;
  /** The result load stopped with, or null when the run would go on. */
  stop: RotationResult | null;
  currentVersionId: string | null;
  pending: { versionId: string; ageMs: number | null; hasValue: boolean } | null;
  /** The clusters probed (any order: the plan lists them in config order). */
  clusters: Record<string, ClusterPlan>;
}

/** The dry run's report, the same shape for every strategy. */
export function planOf(input: PlanInput): RotationPlan {
  const { req, stop, clusters } = input;
  return {
    credential: req.credential.id,
    dryRun: true,
    strategy: input.strategy,
    mode: req.mode,
    action: input.action,
    outcome: stop?.outcome ?? null,
    reason: stop?.reason ?? null,
    currentVersionId: input.currentVersionId,
    pending: input.pending,
    clusters: Object.fromEntries(req.credential.clusters.filter((name) => clusters[name]).map((name) => [name, clusters[name] as ClusterPlan])),
    ...(stop?.error !== undefined ? { error: stop.error } : {}),
  };
}
