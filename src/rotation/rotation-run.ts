import { detailOf, holdsOf, type ClusterProgress, type Holds } from './cluster-progress.ts';
import { fencePoint } from './fence-point.ts';
import type { StrategyContext } from './strategy.ts';
import { ERROR_CODE } from '../error-codes.ts';
import { RotatorError, describeError } from '../errors.ts';
import { CLUSTER_STATE, OUTCOME, REASON, type Outcome, type Reason, type RotationRequest, type RotationResult, type Step } from './types.ts';

/** One cluster's answer to the authentication check (a probe with a password nobody holds). */
export interface AuthCheck {
  name: string;
  answer: 'accepted' | 'rejected' | { unknown: string };
}

/** What every step returns: its value, or why the run stops there. */
export type StepResult<T, S> = { ok: T } | { stop: S };

/** What a strategy adds to every result it returns (alternating: its summary), read when the result is made. */
export type ResultExtra = () => Pick<RotationResult, 'alternating'>;

/**
 * The state of one rotation, created per call and passed from step to step (never kept on the
 * engine): the request, where each cluster stands, the version in play. Shared by the strategies,
 * with what both derive from it: the result, the cause of a failure, its summary.
 */
export class RotationRun {
  readonly req: RotationRequest;
  readonly startedAt: number;
  readonly clusters = new Map<string, ClusterProgress>();
  versionId: string | null = null;
  private readonly ctx: StrategyContext;
  private readonly extra: ResultExtra | undefined;

  constructor(req: RotationRequest, ctx: StrategyContext, extra?: ResultExtra) {
    this.req = req;
    this.ctx = ctx;
    this.extra = extra;
    this.startedAt = ctx.now();
    this.resetClusters();
  }

  /** Every cluster untouched (a run starts so; an alternating leak's second turn starts again so). */
  resetClusters(): void {
    for (const name of this.req.credential.clusters) this.clusters.set(name, { state: CLUSTER_STATE.unchanged });
  }

  /** Records where a cluster stands and emits the `cluster` event. */
  setCluster(name: string, progress: ClusterProgress): void {
    this.clusters.set(name, progress);
    const { credential, rotationId } = this.req;
    const detail = detailOf(progress);
    this.ctx.emit({ type: 'cluster', credential: credential.id, rotationId, cluster: name, state: progress.state, ...(detail ? { detail } : {}) });
  }

  /** The clusters that hold one of `holds`, in config order. */
  holding(...holds: Holds[]): string[] {
    return [...this.clusters.entries()].filter(([, c]) => holds.includes(holdsOf(c))).map(([name]) => name);
  }

  /** Runs one step between its fence, `step-begin` and `step-end` (ok: the step returned `{ok}`). */
  async step<T, S>(step: Step, body: () => Promise<StepResult<T, S>>): Promise<StepResult<T, S>> {
    const { credential, rotationId } = this.req;
    await this.ctx.fence(fencePoint.step(step));
    const began = this.ctx.now();
    this.ctx.emit({ type: 'step-begin', credential: credential.id, rotationId, step });
    let ok = false;
    try {
      const value = await body();
      ok = 'ok' in value;
      return value;
    } finally {
      this.ctx.emit({ type: 'step-end', credential: credential.id, rotationId, step, durationMs: this.ctx.now() - began, ok });
    }
  }

  /** The outcome as data, from the clusters' states as they are now. */
  result(outcome: Outcome, reason: Reason, error?: string): RotationResult {
    const { credential, mode, rotationId } = this.req;
    return {
      credential: credential.id,
      outcome,
      reason,
      mode,
      rotationId,
      versionId: this.versionId,
      clusters: Object.fromEntries([...this.clusters.entries()].map(([name, c]) => [name, c.state])),
      durationMs: this.ctx.now() - this.startedAt,
      ...(error !== undefined && outcome !== OUTCOME.rotated ? { error } : {}),
      ...this.extra?.(),
    };
  }

  /** A step's stop with this result. */
  stop(outcome: Outcome, reason: Reason, error: string): { stop: RotationResult } {
    return { stop: this.result(outcome, reason, error) };
  }

  /** Load could not read the secret: failed, secret_not_found, secrets_throttled (the SDK's attempts spent) or secrets_manager_error. */
  readFailed(err: unknown): { stop: RotationResult } {
    const code = err instanceof RotatorError ? err.code : undefined;
    const reason = code === ERROR_CODE.secretNotFound ? REASON.secretNotFound : code === ERROR_CODE.secretThrottled ? REASON.secretsThrottled : REASON.secretsManagerError;
    return this.stop(OUTCOME.failed, reason, describeError(err));
  }

  /**
   * Load's authentication check (a random wrong password on every cluster). The cases:
   *  1. a cluster accepts it: authentication is off there, refuse (auth_disabled);
   *  2. a cluster gives no answer: refuse before writing anything (cluster_unreachable), unless
   *     `goOnWithoutAnswer` (resuming, or leak mode: a leaked password must die on every cluster
   *     that can be reached); `silentDetail` replaces the probe's reason in the cluster's detail;
   *  3. every cluster rejects it: null, go on.
   */
  refuseUnlessAuthenticated(checks: readonly AuthCheck[], goOnWithoutAnswer: boolean, silentDetail?: string): { stop: RotationResult } | null {
    const authOff = checks.filter((c) => c.answer === 'accepted').map((c) => c.name);
    if (authOff.length > 0) {
      for (const name of authOff) this.setCluster(name, { state: CLUSTER_STATE.authDisabled });
      return this.stop(OUTCOME.failed, REASON.authDisabled, `authentication is off on ${authOff.join(', ')}: a wrong password was accepted`);
    }
    const silent = checks.flatMap((c) => (typeof c.answer === 'object' ? [{ name: c.name, reason: c.answer.unknown }] : []));
    if (silent.length > 0 && !goOnWithoutAnswer) {
      for (const { name, reason } of silent) this.setCluster(name, { state: CLUSTER_STATE.unreachable, mayHoldNew: false, detail: silentDetail ?? reason });
      return this.stop(OUTCOME.failed, REASON.clusterUnreachable, `no answer from ${silent.map((c) => c.name).join(', ')}; nothing was changed`);
    }
    return null;
  }

  /** The reason the clusters' states give for a failed run, most telling first. */
  failureCause(): Reason {
    const progress = [...this.clusters.values()];
    if (progress.some((c) => c.state === CLUSTER_STATE.unknownPassword)) return REASON.unknownPassword;
    if (progress.some((c) => c.state === CLUSTER_STATE.refused && c.by === 'policy')) return REASON.policyRejected;
    if (progress.some((c) => c.state === CLUSTER_STATE.refused)) return REASON.clusterRefused;
    if (progress.some((c) => c.state === CLUSTER_STATE.unreachable)) return REASON.clusterUnreachable;
    if (progress.some((c) => c.state === CLUSTER_STATE.verifyFailed)) return REASON.verifyFailed;
    return REASON.secretsManagerError;
  }

  /** The clusters that did not end where they should, for the message. */
  summarize(): string {
    const parts = [...this.clusters.entries()]
      .filter(([, c]) => c.state !== CLUSTER_STATE.updated && c.state !== CLUSTER_STATE.unchanged)
      .map(([name, c]) => `${name}: ${c.state}${detailOf(c) ? ` (${detailOf(c)})` : ''}`);
    return parts.length > 0 ? parts.join('; ') : 'a step failed';
  }

  /** The clusters in `state`, in config order. */
  inState(state: ClusterProgress['state']): string[] {
    return [...this.clusters.entries()].filter(([, c]) => c.state === state).map(([name]) => name);
  }
}
