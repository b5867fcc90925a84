/**
 * What can go wrong on the way to Secrets Manager, on demand: injected faults for tests, random
 * faults for chaos runs, and the shared write quota (spec/secrets-manager.md section 2.3).
 */

export type Fault =
  /** ThrottlingException (400) before the operation runs: nothing changes. */
  | { kind: 'throttle' }
  /** InternalServiceError (500) or ServiceUnavailable (503) before the operation runs: nothing changes. */
  | { kind: 'status'; status: 500 | 503 }
  /** The request waits `ms` longer, then runs normally. */
  | { kind: 'latency'; ms: number }
  /** The operation runs and its change stays, but the reply is a 500: the ambiguous failure. */
  | { kind: 'applied-then-500' };

export interface FaultRule {
  /** Operation name as in X-Amz-Target, e.g. 'PutSecretValue'. Absent = every operation. */
  op?: string;
  /** Secret name or ARN; matches a request naming the same secret either way. Absent = every secret. */
  secretId?: string;
  /** How many matching requests get the fault. @defaultValue 1 (Infinity = until clearFaults()) */
  times?: number;
  fault: Fault;
}

/** Faults drawn per request, for chaos runs. Rates are probabilities in [0, 1] summing to at most 1. */
export interface RandomFaults {
  /** Probability of a ThrottlingException. */
  rateThrottle?: number;
  /** Probability of a 500 before the operation runs. */
  rate5xx?: number;
  /** Probability of a 500 after the operation ran (its change stays). */
  rateAppliedThen500?: number;
  /** Each request waits a uniform 0..latencyJitterMs extra. */
  latencyJitterMs?: number;
}

interface ActiveRule {
  readonly rule: FaultRule;
  remaining: number;
}

/** Injected rules first (in injection order), then the random draw. */
export class FaultPlan {
  private readonly random: () => number;
  private rules: ActiveRule[] = [];
  private randomFaults: RandomFaults | undefined;

  constructor(random: () => number) {
    this.random = random;
  }

  inject(rule: FaultRule): void {
    const times = rule.times ?? 1;
    if (!(times > 0)) throw new RangeError('times must be greater than 0');
    if (rule.fault.kind === 'latency' && !(rule.fault.ms >= 0)) throw new RangeError('latency ms must be >= 0');
    this.rules.push({ rule, remaining: times });
  }

  clear(): void {
    this.rules = [];
  }

  setRandom(faults: RandomFaults | undefined): void {
    if (faults) {
      const rates = [faults.rateThrottle ?? 0, faults.rate5xx ?? 0, faults.rateAppliedThen500 ?? 0];
      if (rates.some((rate) => !(rate >= 0 && rate <= 1))) throw new RangeError('fault rates must be within [0, 1]');
      if (rates.reduce((sum, rate) => sum + rate, 0) > 1) throw new RangeError('fault rates must sum to at most 1');
      if (!((faults.latencyJitterMs ?? 0) >= 0)) throw new RangeError('latencyJitterMs must be >= 0');
    }
    this.randomFaults = faults;
  }

  /**
   * The fault for one request, if any. Consumes one use of the first matching injected rule; with no
   * match, draws from the random faults. `namesSecret(id)` says whether the request is about secret `id`.
   */
  next(op: string, namesSecret: (secretId: string) => boolean): Fault | undefined {
    const index = this.rules.findIndex(
      ({ rule }) => (rule.op === undefined || rule.op === op) && (rule.secretId === undefined || namesSecret(rule.secretId)),
    );
    const active = this.rules[index];
    if (active) {
      active.remaining -= 1;
      if (active.remaining <= 0) this.rules.splice(index, 1);
      return active.rule.fault;
    }
    return this.draw();
  }

  /** Extra latency for one request from the random faults, in ms. */
  jitterMs(): number {
    const jitter = this.randomFaults?.latencyJitterMs ?? 0;
    return jitter > 0 ? this.random() * jitter : 0;
  }

  private draw(): Fault | undefined {
    const faults = this.randomFaults;
    if (!faults) return undefined;
    const throttle = faults.rateThrottle ?? 0;
    const before = throttle + (faults.rate5xx ?? 0);
    const after = before + (faults.rateAppliedThen500 ?? 0);
    if (after <= 0) return undefined;
    const roll = this.random();
    if (roll < throttle) return { kind: 'throttle' };
    if (roll < before) return { kind: 'status', status: 500 };
    if (roll < after) return { kind: 'applied-then-500' };
    return undefined;
  }
}

/**
 * At most `limitPerSecond` admitted writes in any rolling second, across all secrets: AWS's shared
 * PutSecretValue + UpdateSecretVersionStage quota (50/s per account and region). Refused requests
 * do not count, as with a token bucket.
 */
export class WriteRateLimiter {
  private readonly now: () => number;
  private limitPerSecond: number | undefined;
  /** Admission times (epoch ms), oldest first. */
  private admittedAtMs: number[] = [];

  constructor(limitPerSecond: number | undefined, now: () => number) {
    this.now = now;
    this.setLimit(limitPerSecond);
  }

  setLimit(limitPerSecond: number | undefined): void {
    if (limitPerSecond !== undefined && !(Number.isInteger(limitPerSecond) && limitPerSecond > 0)) {
      throw new RangeError('writeLimitPerSecond must be a positive integer');
    }
    this.limitPerSecond = limitPerSecond;
    this.admittedAtMs = [];
  }

  /** Admits one write now, or answers false when the last second already holds the limit. */
  tryAdmit(): boolean {
    if (this.limitPerSecond === undefined) return true;
    const nowMs = this.now();
    const windowStartMs = nowMs - 1_000;
    let expired = 0;
    while (expired < this.admittedAtMs.length && (this.admittedAtMs[expired] ?? 0) <= windowStartMs) expired += 1;
    if (expired > 0) this.admittedAtMs.splice(0, expired);
    if (this.admittedAtMs.length >= this.limitPerSecond) return false;
    this.admittedAtMs.push(nowMs);
    return true;
  }
}
