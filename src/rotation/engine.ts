import { randomBytes } from 'node:crypto';
import type { PasswordPolicy } from '../config/types.ts';
import type { ClusterClient } from '../milvus/types.ts';
import type { SecretStore } from '../secrets/types.ts';
import { StrategyUnavailableError } from './errors.ts';
import type { FencePoint } from './fence-point.ts';
import type { RotationPlan } from './rotation-plan.ts';
import { singleUserStrategy } from './single-user-strategy.ts';
import {
  STRATEGY,
  strategyNameOf,
  type EngineTuning,
  type PendingOwner,
  type RotationStrategy,
  type StrategyContext,
  type StrategyRegistry,
} from './strategy.ts';
import type { RotationEvent, RotationRequest, RotationResult } from './types.ts';

export type { EngineTuning } from './strategy.ts';

export const ENGINE_DEFAULTS = {
  changeAttempts: 3,
  probeAttempts: 3,
  retryDelayMs: 100,
  verifyAttempts: 4,
  verifyDelayMs: 150,
  pendingLeaseMs: 10 * 60_000,
  leakForwardPasses: 3,
  describeAttempts: 6,
  writeThrottleBudgetMs: 10_000,
} as const satisfies EngineTuning;

/** The strategies every engine has unless given others. */
export const DEFAULT_STRATEGIES: StrategyRegistry = { [STRATEGY.single]: singleUserStrategy };

export interface EngineDeps {
  store: SecretStore;
  /** The client for a configured cluster name. */
  cluster: (name: string) => ClusterClient;
  generatePassword: (policy: PasswordPolicy) => string;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** A password no cluster should accept, to detect authentication turned off. */
  wrongPassword?: () => string;
  onEvent?: (event: RotationEvent) => void;
  /**
   * Called before every side effect (and at each step boundary) with what is about to happen.
   * Throws (LeaseLostError) when this process no longer owns the credential: the engine stops at
   * once, does no clean-up, and lets the error through.
   */
  fence?: (point: FencePoint) => Promise<void>;
  /**
   * Whether the rotation that wrote a foreign pending version may still run (the worker asks its
   * queue: the version id is the rotation id is the job id). Default: unknown (wait the lease).
   */
  pendingOwner?: (versionId: string) => Promise<PendingOwner>;
  tuning?: Partial<EngineTuning>;
  /** The strategies this engine can run. @defaultValue DEFAULT_STRATEGIES (single) */
  strategies?: StrategyRegistry;
}

/**
 * The rotation engine: runs one rotation of one credential with the credential's strategy
 * (strategy.ts). It knows nothing of queues or HTTP; it takes a request and returns the outcome
 * as data. Expected failures never throw; only a lost lease (from `fence`) and programming
 * errors do.
 */
export class RotationEngine {
  private readonly ctx: StrategyContext;
  private readonly strategies: StrategyRegistry;

  constructor(deps: EngineDeps) {
    const onEvent = deps.onEvent;
    this.ctx = {
      store: deps.store,
      cluster: deps.cluster,
      generatePassword: deps.generatePassword,
      now: deps.now ?? Date.now,
      sleep: deps.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
      wrongPassword: deps.wrongPassword ?? (() => `Wrong-${randomBytes(18).toString('base64url')}`),
      fence: deps.fence ?? (async () => {}),
      pendingOwner: deps.pendingOwner ?? (async () => 'unknown'),
      emit: (event) => {
        try {
          onEvent?.(event);
        } catch {
          // A faulty listener must not break a rotation.
        }
      },
      tuning: { ...ENGINE_DEFAULTS, ...deps.tuning },
    };
    this.strategies = deps.strategies ?? DEFAULT_STRATEGIES;
  }

  async rotate(req: RotationRequest): Promise<RotationResult> {
    const result = await this.strategyFor(req).rotate(req, this.ctx);
    this.ctx.emit({ type: 'outcome', result });
    return result;
  }

  /** The dry run: what `rotate(req)` would do, from reads and probes only. */
  async plan(req: RotationRequest): Promise<RotationPlan> {
    return this.strategyFor(req).plan(req, this.ctx);
  }

  private strategyFor(req: RotationRequest): RotationStrategy {
    const name = strategyNameOf(req.credential);
    const strategy = this.strategies[name];
    if (!strategy) throw new StrategyUnavailableError(req.credential.id, name);
    return strategy;
  }
}
