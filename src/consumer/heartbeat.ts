/**
 * The helper's optional version heartbeat (layout in heartbeat-layout.ts): with it, the rotator
 * shows per credential how many consumers use each version (`milvus_rotator_consumers`), so an
 * operator sees who still holds a version a rotation is about to kill.
 *
 * It takes any client with `hset`, `hdel` and `pexpire` (ioredis, node-redis v4 adapters), which
 * the application owns and closes. A failed write is reported as an event and never breaks a call.
 */
import { randomUUID } from 'node:crypto';
import { HEARTBEAT_DEFAULTS, encodeHeartbeat, heartbeatKey } from './heartbeat-layout.ts';

export interface HeartbeatRedis {
  hset(key: string, field: string, value: string): Promise<unknown>;
  hdel(key: string, field: string): Promise<unknown>;
  pexpire(key: string, milliseconds: number): Promise<unknown>;
}

export interface HeartbeatOptions {
  redis: HeartbeatRedis;
  /** The rotator's `redis.prefix`. @defaultValue '{milvus-rotator}' */
  prefix?: string;
  /** @defaultValue 30000 */
  intervalMs?: number;
  /** This consumer's field. @defaultValue a random UUID */
  consumerId?: string;
}

export class VersionHeartbeatWriter {
  readonly consumerId: string;
  readonly #redis: HeartbeatRedis;
  readonly #key: string;
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #onError: (error: unknown) => void;
  #timer: NodeJS.Timeout | undefined;
  #last: { versionId: string; stage: string } | undefined;

  constructor(secretId: string, options: HeartbeatOptions, now: () => number, onError: (error: unknown) => void) {
    const intervalMs = options.intervalMs ?? HEARTBEAT_DEFAULTS.intervalMs;
    if (!Number.isFinite(intervalMs) || intervalMs < 1) throw new RangeError('heartbeat.intervalMs must be a number >= 1');
    this.consumerId = options.consumerId ?? randomUUID();
    this.#redis = options.redis;
    this.#key = heartbeatKey(options.prefix ?? HEARTBEAT_DEFAULTS.prefix, secretId);
    this.#intervalMs = intervalMs;
    this.#now = now;
    this.#onError = onError;
  }

  /** Reports a version now and keeps reporting it every interval. */
  report(versionId: string, stage: string): Promise<void> {
    this.#last = { versionId, stage };
    if (!this.#timer) {
      this.#timer = setInterval(() => void this.#beat(), this.#intervalMs);
      this.#timer.unref();
    }
    return this.#beat();
  }

  /** Stops beating and removes this consumer's field. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#last) await this.#redis.hdel(this.#key, this.consumerId).catch(this.#onError);
  }

  async #beat(): Promise<void> {
    const last = this.#last;
    if (!last) return;
    try {
      await this.#redis.hset(this.#key, this.consumerId, encodeHeartbeat({ ...last, at: this.#now() }));
      await this.#redis.pexpire(this.#key, this.#intervalMs * 3);
    } catch (error) {
      this.#onError(error);
    }
  }
}
