/**
 * A Redis lock taken with `SET key token NX PX ttl` and renewed while held: the mechanics the
 * credential lock and the schedules sync lock share. Each keeps its own key, token and errors.
 *
 * Renewal and release are token-checked Lua scripts: a holder whose lock expired (and was perhaps
 * taken by another) neither extends nor deletes the new holder's. A renewal that finds the key
 * gone or another's marks the lock lost for good; a renewal never recreates a key, so the key
 * holds this token only if it never expired since it was taken.
 */
import type { RedisClient } from './redis-client.ts';
import { settleWithin } from './settle-within.ts';

/** KEYS[1] the lock, ARGV[1] the token, ARGV[2] the new TTL in ms. 1 when renewed, 0 when gone or another's. */
const RENEW_IF_HELD = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;

/** KEYS[1] the lock, ARGV[1] the token. 1 when deleted, 0 when gone or another's. */
const RELEASE_IF_HELD = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

/** How long a check or a release may wait for Redis. */
export const TOKEN_LOCK_CALL_TIMEOUT_MS = 5_000;

export interface TokenLockOptions {
  key: string;
  token: string;
  ttlMs: number;
  /** @defaultValue a third of ttlMs */
  renewEveryMs?: number;
}

export class TokenLock {
  readonly key: string;
  readonly token: string;
  private readonly redis: RedisClient;
  private readonly ttlMs: number;
  private timer: NodeJS.Timeout | null = null;
  private lost = false;

  private constructor(redis: RedisClient, options: TokenLockOptions) {
    this.redis = redis;
    this.key = options.key;
    this.token = options.token;
    this.ttlMs = options.ttlMs;
  }

  /** Takes the lock and starts renewing it, or returns null when another holder has it. */
  static async take(redis: RedisClient, options: TokenLockOptions): Promise<TokenLock | null> {
    if ((await redis.set(options.key, options.token, 'PX', options.ttlMs, 'NX')) !== 'OK') return null;
    const lock = new TokenLock(redis, options);
    lock.timer = setInterval(() => void lock.renew(), options.renewEveryMs ?? Math.floor(options.ttlMs / 3));
    lock.timer.unref();
    return lock;
  }

  /** False once a renewal or a check found the lock expired or another's. No round trip. */
  get held(): boolean {
    return !this.lost;
  }

  /**
   * True while the key still holds this token (one GET); false, for good, once it does not.
   * Throws when Redis gives no answer within TOKEN_LOCK_CALL_TIMEOUT_MS: ownership then is
   * unproven, and the caller decides.
   */
  async confirm(): Promise<boolean> {
    if (this.lost) return false;
    if ((await withTimeout(this.redis.get(this.key), TOKEN_LOCK_CALL_TIMEOUT_MS)) === this.token) return true;
    this.markLost();
    return false;
  }

  /** Stops renewing; the key is left to expire (a holder that could not finish taking it). */
  abandon(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Stops renewing and deletes the key if it is still this holder's. Never throws: a lock not deleted expires within its TTL. */
  async release(): Promise<void> {
    this.abandon();
    // Unanswered or refused, it expires by itself.
    await settleWithin(this.redis.eval(RELEASE_IF_HELD, 1, this.key, this.token), TOKEN_LOCK_CALL_TIMEOUT_MS);
  }

  private async renew(): Promise<void> {
    try {
      if ((await this.redis.eval(RENEW_IF_HELD, 1, this.key, this.token, String(this.ttlMs))) !== 1) this.markLost();
    } catch {
      // Redis away: the holder's next check (a GET) decides.
    }
  }

  private markLost(): void {
    this.lost = true;
    this.abandon();
  }
}

/** Like settleWithin, but a rejection or the timeout rejects: a check that must tell "not held" from "no answer". */
async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`Redis did not answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
