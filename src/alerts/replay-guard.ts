/**
 * Refuses a second delivery of the same signed alert. A valid signature and a fresh timestamp
 * prove who sent a request, not that it is new: anyone who captured one (a proxy log, a retry
 * queue) could resend it within the tolerance window and trigger rotation after rotation.
 *
 * Keys are remembered for `ttlSeconds`. For the generic feed the key is the verified signature and
 * the TTL is twice the timestamp tolerance: a timestamp is accepted while it lies within ±tolerance
 * of our clock, so a request stays acceptable for at most 2 x tolerance in all, and the guard must
 * remember it at least that long.
 *
 * A delivery counts as processed only once its work is done (`claim` then `commit`): a claim that
 * is released (the rotation could not be queued) leaves the delivery retriable, so a sender's retry
 * of a leak alert whose first attempt got 503 is processed, not refused as a replay. While a claim
 * is held (at most CLAIM_TTL_SECONDS), a concurrent copy is told `in_flight`: it is neither
 * processed twice nor lost (its sender is told to retry).
 */
import { createHash, randomUUID } from 'node:crypto';

/** How long an uncommitted claim blocks copies of its delivery (a crashed process releases it by expiry). */
export const CLAIM_TTL_SECONDS = 30;

/** A delivery being processed: commit once its work is done, release when it failed (retriable). */
export interface ReplayClaim {
  commit(): Promise<void>;
  release(): Promise<void>;
}

export type ClaimResult = { status: 'first'; claim: ReplayClaim } | { status: 'seen' } | { status: 'in_flight' };

export interface ReplayGuard {
  /**
   * True the first time `key` is offered within `ttlSeconds`, false for every repeat. Atomic:
   * of two concurrent calls with the same key, exactly one gets true, across every replica
   * sharing the store.
   */
  firstSeen(key: string, ttlSeconds: number): Promise<boolean>;
  /**
   * Claims `key` for processing: `first` (with the claim) unless the key was committed within
   * `ttlSeconds` (`seen`) or another claim of it is being processed (`in_flight`). Atomic across
   * replicas, like firstSeen.
   */
  claim(key: string, ttlSeconds: number): Promise<ClaimResult>;
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
  set(key: string, value: string, secondsToken: 'EX', seconds: number): Promise<'OK' | null>;
  get(key: string): Promise<string | null>;
  eval(script: string, numKeys: number, ...args: string[]): Promise<unknown>;
}

/** The value a committed delivery's key holds; a claim holds `claim:<token>`. */
const COMMITTED = '1';
const CLAIM_PREFIX = 'claim:';
/** Deletes the key only while it still holds this claim (never a commit, never another's claim). */
const RELEASE_SCRIPT = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";
/** Commits only over this claim: a claim that expired and was taken by another is left to it. */
const COMMIT_SCRIPT =
  "local v = redis.call('GET', KEYS[1]) if v == ARGV[1] or v == false then redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) return 1 end return 0";

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
    const reply = await this.client.set(replayRedisKey(this.prefix, key), COMMITTED, 'EX', ttlSeconds, 'NX');
    return reply === 'OK';
  }

  async claim(key: string, ttlSeconds: number): Promise<ClaimResult> {
    checkTtl(ttlSeconds);
    const redisKey = replayRedisKey(this.prefix, key);
    const token = `${CLAIM_PREFIX}${randomUUID()}`;
    if ((await this.client.set(redisKey, token, 'EX', CLAIM_TTL_SECONDS, 'NX')) !== 'OK') {
      const held = await this.client.get(redisKey);
      return held !== null && held.startsWith(CLAIM_PREFIX) ? { status: 'in_flight' } : { status: 'seen' };
    }
    return {
      status: 'first',
      claim: {
        commit: async () => {
          await this.client.eval(COMMIT_SCRIPT, 1, redisKey, token, COMMITTED, String(ttlSeconds));
        },
        release: async () => {
          await this.client.eval(RELEASE_SCRIPT, 1, redisKey, token);
        },
      },
    };
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

  /** sha256(key) of deliveries claimed and neither committed nor released. */
  private readonly claimed = new Set<string>();

  async firstSeen(key: string, ttlSeconds: number): Promise<boolean> {
    const result = await this.claim(key, ttlSeconds);
    if (result.status !== 'first') return false;
    await result.claim.commit();
    return true;
  }

  async claim(key: string, ttlSeconds: number): Promise<ClaimResult> {
    checkTtl(ttlSeconds);
    const now = this.nowMs();
    for (const [seen, expiresAtMs] of this.expiresAtMs) {
      if (expiresAtMs <= now) this.expiresAtMs.delete(seen);
    }
    const hashed = replayRedisKey('memory', key);
    if (this.expiresAtMs.has(hashed)) return { status: 'seen' };
    if (this.claimed.has(hashed)) return { status: 'in_flight' };
    this.claimed.add(hashed);
    return {
      status: 'first',
      claim: {
        commit: async () => {
          this.claimed.delete(hashed);
          this.expiresAtMs.set(hashed, this.nowMs() + ttlSeconds * 1_000);
        },
        release: async () => {
          this.claimed.delete(hashed);
        },
      },
    };
  }
}
