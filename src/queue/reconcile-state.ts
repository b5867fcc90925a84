import type { RedisClient } from './redis-client.ts';

/** The periodic checks of reconcile, each on its own cadence. */
export const RECONCILE_CHECK = {
  /** GetSecretValue(AWSCURRENT) and a probe of every cluster. */
  drift: 'drift',
  /** DescribeSecret: a pending version written outside this fleet; label changes for the fingerprint index. */
  labels: 'labels',
} as const;
export type ReconcileCheck = (typeof RECONCILE_CHECK)[keyof typeof RECONCILE_CHECK];

/**
 * What reconcile needs to remember between passes, in Redis (every replica may run a pass):
 * when each credential was last checked, per check (so a pass takes only the slice that is due),
 * and the rotations this fleet started and has not seen finish (so a stale pending version of
 * ours is looked for only where one can be, at no Secrets Manager cost while none is due). Ids
 * and unix ms only.
 */
export class ReconcileState {
  private readonly redis: RedisClient;
  private readonly prefix: string;

  constructor(redis: RedisClient, prefix: string) {
    this.redis = redis;
    this.prefix = prefix;
  }

  private checkedKey(check: ReconcileCheck): string {
    return `${this.prefix}:reconcile:checked:${check}`;
  }

  private get rotationsKey(): string {
    return `${this.prefix}:reconcile:rotations`;
  }

  /**
   * Takes the pass lease (one reconcile pass at a time across the fleet: two overlapping passes
   * would both find the same checks due). The holder renews it while the pass runs; a holder that
   * dies lets it lapse after `ttlMs`. Null when a pass runs elsewhere.
   */
  async claimPass(ttlMs: number): Promise<{ renew: () => Promise<void>; release: () => Promise<void> } | null> {
    const key = `${this.prefix}:reconcile:pass`;
    const token = `${process.pid}:${Math.random().toString(36).slice(2)}`;
    const ttl = String(Math.max(1, Math.ceil(ttlMs)));
    if ((await this.redis.set(key, token, 'PX', ttl, 'NX')) !== 'OK') return null;
    return {
      renew: async () => {
        await this.redis.eval("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0", 1, key, token, ttl);
      },
      release: async () => {
        await this.redis.eval("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0", 1, key, token);
      },
    };
  }

  /** A rotation of `credential` started (or a pending version was seen) at `atMs`. */
  async markRotation(credential: string, atMs: number): Promise<void> {
    await this.redis.hset(this.rotationsKey, credential, String(Math.floor(atMs)));
  }

  /** A rotation finished with no pending version left (or a check found none). */
  async clearRotation(credential: string): Promise<void> {
    await this.redis.hdel(this.rotationsKey, credential);
  }

  /** Credential -> when its unfinished rotation started (unix ms). */
  async rotations(): Promise<Map<string, number>> {
    return numbers(await this.redis.hgetall(this.rotationsKey));
  }

  /** Credential -> when `check` last ran for it (unix ms). */
  async lastChecks(check: ReconcileCheck): Promise<Map<string, number>> {
    return numbers(await this.redis.hgetall(this.checkedKey(check)));
  }

  async recordChecks(check: ReconcileCheck, atMs: ReadonlyMap<string, number>): Promise<void> {
    if (atMs.size === 0) return;
    await this.redis.hset(this.checkedKey(check), Object.fromEntries([...atMs].map(([id, ms]) => [id, String(Math.floor(ms))])));
  }

  /** Drops credentials no longer configured. */
  async retain(credentialIds: readonly string[]): Promise<void> {
    const keep = new Set(credentialIds);
    for (const key of [this.rotationsKey, ...Object.values(RECONCILE_CHECK).map((c) => this.checkedKey(c))]) {
      const stale = (await this.redis.hkeys(key)).filter((id) => !keep.has(id));
      if (stale.length > 0) await this.redis.hdel(key, ...stale);
    }
  }
}

function numbers(hash: Record<string, string>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [id, text] of Object.entries(hash)) {
    const value = Number(text);
    if (Number.isFinite(value)) out.set(id, value);
  }
  return out;
}
