import type { CredentialConfig, PasswordPolicy } from '../config/types.ts';
import type { ClusterClient } from '../milvus/types.ts';
import type { SecretStore } from '../secrets/types.ts';
import type { FencePoint } from './fence-point.ts';
import type { RotationPlan } from './rotation-plan.ts';
import type { RotationEvent, RotationRequest, RotationResult } from './types.ts';

/**
 * The strategy seam. A credential's `strategy` names how its password is rotated:
 *  - `single` (default): one Milvus user, its password changed in place (docs/design.md section 5);
 *  - `alternating`: two users, the one that is not AWSCURRENT changed and promoted.
 * The engine picks the strategy per credential (strategyNameOf) from its registry and runs it;
 * a strategy knows neither the queue, HTTP, nor the other strategy: it gets its ports and knobs
 * in a StrategyContext and returns the outcome as data.
 */
export const STRATEGY = { single: 'single', alternating: 'alternating' } as const;
export type StrategyName = (typeof STRATEGY)[keyof typeof STRATEGY];

/** Retry and timing knobs; defaults in ENGINE_DEFAULTS (engine.ts). */
export interface EngineTuning {
  /** update_password attempts per cluster while it provably still holds the old password. */
  changeAttempts: number;
  /** Probes spent on one ambiguous answer. */
  probeAttempts: number;
  /** Backoff base between attempts and probes. */
  retryDelayMs: number;
  /** Verification probes per cluster (propagation: spec section 8 allows 2-3 over about 1 s). */
  verifyAttempts: number;
  verifyDelayMs: number;
  /**
   * A foreign pending version younger than this is taken to have a live owner and is left alone
   * (refused); an older one is adopted. It must exceed the longest rotation.
   */
  pendingLeaseMs: number;
  /** Leak mode: extra passes over clusters that could not be moved before reporting them. */
  leakForwardPasses: number;
  /**
   * Alternating, the roles step: users/describe attempts per user and cluster while the answer is
   * unclear (backoff from retryDelayMs, doubling). A read, cheap to repeat, and the new password is
   * already on every cluster by then: worth more patience than a change.
   */
  describeAttempts: number;
  /**
   * How long one Secrets Manager write may go on being throttled (ms from its first attempt), each
   * retry behind the fence again (a new slot in the write budget: write-retry.ts), before its step
   * reports SECRET_THROTTLED.
   */
  writeThrottleBudgetMs: number;
}

/**
 * Whether the rotation that wrote a pending version (named by its version id, which is its
 * rotation id) may still be running: `ended` lets a rotation adopt it at once instead of waiting
 * out `pendingLeaseMs`; `unknown` (no such job: a CLI run, or a trimmed job) waits the lease.
 */
export type PendingOwner = 'running' | 'ended' | 'unknown';

/** What every strategy gets from the engine: ports, clock, fence, events and tuning. */
export interface StrategyContext {
  store: SecretStore;
  /** The client for a configured cluster name. */
  cluster: (name: string) => ClusterClient;
  generatePassword: (policy: PasswordPolicy) => string;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  /** A password no cluster should accept, to detect authentication turned off. */
  wrongPassword: () => string;
  /** Called before every side effect and step; throws (LeaseLostError) to stop the run at once. */
  fence: (point: FencePoint) => Promise<void>;
  /** Step, cluster and outcome events; never throws (a faulty listener cannot break a rotation). */
  emit: (event: RotationEvent) => void;
  /** Whether the rotation that wrote a foreign pending version may still be running. */
  pendingOwner: (versionId: string) => Promise<PendingOwner>;
  tuning: EngineTuning;
}

export interface RotationStrategy {
  readonly name: StrategyName;
  /**
   * One rotation of `req.credential`, fresh or resumed (same rotation id: same version). Expected
   * failures are results; only a lost lease (from the fence) and programming errors throw. The
   * engine emits the `outcome` event; the strategy emits steps and clusters.
   */
  rotate(req: RotationRequest, ctx: StrategyContext): Promise<RotationResult>;
  /** The dry run: the load step only (reads and probes), what would happen. Calls nothing that writes. */
  plan(req: RotationRequest, ctx: StrategyContext): Promise<RotationPlan>;
}

/** The strategies an engine can run, by name. */
export type StrategyRegistry = Readonly<Partial<Record<StrategyName, RotationStrategy>>>;

/** The strategy a credential asks for (`single` unless the config says otherwise). */
export function strategyNameOf(credential: CredentialConfig): StrategyName {
  return credential.strategy ?? STRATEGY.single;
}
