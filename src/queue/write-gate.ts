import type { RedisClient } from './redis-client.ts';
import { MODE, type Mode } from '../rotation/types.ts';
import { WRITE_QUOTA_SHARE } from './names.ts';

/**
 * GCRA (the generic cell rate algorithm) in one Lua call, on Redis's clock so every replica
 * agrees: returns 0 and books a slot when the caller may write now, else how many milliseconds
 * to wait. KEYS[1] holds the theoretical arrival time (TAT) in microseconds.
 * ARGV: emission interval (µs), tolerance (µs).
 */
const GCRA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
if tat - tolerance > now then return math.ceil((tat - tolerance - now) / 1000) end
redis.call('SET', KEYS[1], tostring(tat + interval), 'PX', 60000)
return 0
`;

/**
 * The Secrets Manager write budget shared by every replica: PutSecretValue and
 * UpdateSecretVersionStage together may not exceed the region's quota (50/s by default), or AWS
 * answers ThrottlingException and the SDK's backoff slows everything down. Each write books a
 * slot first. Writes are spaced evenly at WRITE_QUOTA_SHARE of the quota; a leak rotation may
 * borrow a few slots ahead (a larger tolerance), so it never queues behind the fleet.
 */
export class WriteGate {
  private readonly redis: RedisClient;
  private readonly key: string;
  private readonly intervalUs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(redis: RedisClient, prefix: string, writesPerSecond: number, sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms))) {
    this.redis = redis;
    this.key = `${prefix}:sm-write-gate`;
    this.intervalUs = Math.ceil(1_000_000 / (writesPerSecond * WRITE_QUOTA_SHARE));
    this.sleep = sleep;
  }

  /** Waits until this write fits the budget. Leak writes may run up to three slots ahead. */
  async acquire(mode: Mode): Promise<void> {
    const tolerance = this.intervalUs * (mode === MODE.leak ? 3 : 1);
    for (;;) {
      const waitMs = Number(await this.redis.eval(GCRA, 1, this.key, String(this.intervalUs), String(tolerance)));
      if (waitMs <= 0) return;
      await this.sleep(Math.max(1, waitMs));
    }
  }
}
