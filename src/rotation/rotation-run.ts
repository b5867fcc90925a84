import { detailOf, holdsOf, type ClusterProgress, type Holds } from './cluster-progress.ts';
import { fencePoint } from './fence-point.ts';
import type { StrategyContext } from './strategy.ts';
import { CLUSTER_STATE, OUTCOME, type Outcome, type Reason, type RotationRequest, type RotationResult, type Step } from './types.ts';

/** What every step returns: its value, or why the run stops there. */
export type StepResult<T, S> = { ok: T } | { stop: S };

/**
 * The state of one rotation, created per call and passed from step to step (never kept on the
 * engine): the request, where each cluster stands, the version in play. Shared by the strategies.
 */
export class RotationRun {
  readonly req: RotationRequest;
  readonly startedAt: number;
  readonly clusters = new Map<string, ClusterProgress>();
  versionId: string | null = null;
  private readonly ctx: StrategyContext;

  constructor(req: RotationRequest, ctx: StrategyContext, clusterNames: readonly string[] = req.credential.clusters) {
    this.req = req;
    this.ctx = ctx;
    this.startedAt = ctx.now();
    for (const name of clusterNames) this.clusters.set(name, { state: CLUSTER_STATE.unchanged });
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
    };
  }
}
