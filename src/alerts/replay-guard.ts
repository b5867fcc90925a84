/**
 * Refuses a second delivery of the same signed alert. A valid signature and a fresh timestamp
 * prove who sent a request, not that it is new: anyone who captured one (a proxy log, a retry
 * queue) could resend it within the tolerance window and trigger rotation after rotation.
 *
 * Keys are remembered for `ttlSeconds`. For the generic feed the key is the verified signature and
 * the TTL is twice the timestamp tolerance: a timestamp is accepted while it lies within ±tolerance
 * of our clock, so a request stays acceptable for at most 2 x tolerance in all, and the guard must
 * remember it at least that long.
 */
import { createHash } from 'node:crypto';

export interface ReplayGuard {
  /**
   * True the first time `key` is offered within `ttlSeconds`, false for every repeat. Atomic:
   * of two concurrent calls with the same key, exactly one gets true, across every replica
   * sharing the store.
   */
  firstSeen(key: string, ttlSeconds: number): Promise<boolean>;
}

/** How long to remember a generic alert's signature: the whole window in which it verifies. */
export function genericReplayTtlSeconds(toleranceSeconds: number): number {
  return 2 * toleranceSeconds;
}

/**
 * The one Redis command the guard needs, in the shape ioredis's `Redis` (and `Cluster`) have, so
 * this file depends on no client class and tests or other clients can stand in.
 */
export interface ReplayRedisClient {
  set(key: string, value: string, secondsToken: 'EX', seconds: number, nx: 'NX'): Promise<'OK' | null>;
}

/**
 * `<prefix>:alert-replay:<sha256 hex of key>`. The key is hashed so that nothing an alert carried
 * (a signature, a delivery id) is written to Redis as is, and so that every key has one length
 * whatever the caller offers. The prefix is the configured `redis.prefix`, whose braces keep all
 * of the rotator's keys in one Redis Cluster hash slot.
 */
export function replayRedisKey(prefix: string, key: string): string {
  return `${prefix}:alert-replay:${createHash('sha256').update(key).digest('hex')}`;
}

function checkTtl(ttlSeconds: number): void {
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) throw new RangeError('ttlSeconds must be an integer >= 1');
}

/** The production guard: `SET <key> 1 NX EX <ttl>`, one atomic round trip, shared by all replicas. */
export class RedisReplayGuard implements ReplayGuard {
  private readonly client: ReplayRedisClient;
  private readonly prefix: string;

  constructor(client: ReplayRedisClient, prefix: string) {
    if (prefix === '') throw new RangeError('prefix must not be empty');
    this.client = client;
    this.prefix = prefix;
  }

  async firstSeen(key: string, ttlSeconds: number): Promise<boolean> {
    checkTtl(ttlSeconds);
    const reply = await this.client.set(replayRedisKey(this.prefix, key), '1', 'EX', ttlSeconds, 'NX');
    return reply === 'OK';
  }
}

/**
 * A single-process guard for unit tests and the in-process demo. Not for production: each replica
 * would remember only its own deliveries. Expired keys are dropped on every call.
 */
export class MemoryReplayGuard implements ReplayGuard {
  /** sha256(key) -> expiry, epoch ms. */
  private readonly expiresAtMs = new Map<string, number>();
  private readonly nowMs: () => number;

  constructor(options: { nowMs?: () => number } = {}) {
    this.nowMs = options.nowMs ?? Date.now;
  }

  async firstSeen(key: string, ttlSeconds: number): Promise<boolean> {
    checkTtl(ttlSeconds);
    const now = this.nowMs();
    for (const [seen, expiresAtMs] of this.expiresAtMs) {
      if (expiresAtMs <= now) this.expiresAtMs.delete(seen);
    }
    const hashed = replayRedisKey('memory', key);
    if (this.expiresAtMs.has(hashed)) return false;
    this.expiresAtMs.set(hashed, now + ttlSeconds * 1_000);
    return true;
  }
}
