import type { RedisClient } from './redis-client.ts';
import { z } from 'zod';

/** One leak alert waiting for its rotation. No secret: ids, source and time only. */
export const leakNoticeSchema = z.strictObject({
  alertId: z.string().max(128),
  source: z.string().max(64),
  /** Unix ms when the alert was received. */
  receivedAt: z.number().int().nonnegative(),
  /** The Milvus user whose password leaked, when the alert named it (alternating credentials change only that user when it is retired). */
  username: z.string().max(64).optional(),
});
export type LeakNotice = z.infer<typeof leakNoticeSchema>;

/** Notices outlive a missed rotation by this much, then lapse. */
const NOTICE_TTL_SECONDS = 7 * 24 * 3600;

/**
 * Per-credential lists of leak alerts not yet answered by a completed rotation. A rotation job
 * runs in leak mode whenever its credential has notices, whatever mode it was queued with; this
 * closes the race where a leak add is deduplicated into a scheduled job that starts before its
 * data can be changed. Only a `rotated` outcome consumes notices, and only those it read: an
 * alert arriving during the rotation keeps its notice for the next run.
 */
export class LeakFlags {
  private readonly redis: RedisClient;
  private readonly prefix: string;

  constructor(redis: RedisClient, prefix: string) {
    this.redis = redis;
    this.prefix = prefix;
  }

  private key(credentialId: string): string {
    return `${this.prefix}:leak:${credentialId}`;
  }

  async push(credentialId: string, notice: LeakNotice): Promise<void> {
    const key = this.key(credentialId);
    await this.redis.multi().rpush(key, JSON.stringify(notice)).expire(key, NOTICE_TTL_SECONDS).exec();
  }

  /** The waiting notices, and how many entries were read (what `consume` removes). */
  async read(credentialId: string): Promise<{ notices: LeakNotice[]; count: number }> {
    const raw = await this.redis.lrange(this.key(credentialId), 0, -1);
    const notices: LeakNotice[] = [];
    for (const item of raw) {
      try {
        notices.push(leakNoticeSchema.parse(JSON.parse(item)));
      } catch {
        // A malformed entry still counts as a leak (count), it just carries no details.
      }
    }
    return { notices, count: raw.length };
  }

  /**
   * The user whose password leaked, when every waiting notice names the same one; undefined when
   * any notice names none (or could not be read) or they name different users: then every user
   * of the credential may have leaked.
   */
  static leakedUsername(read: { notices: LeakNotice[]; count: number }): string | undefined {
    if (read.count === 0 || read.notices.length !== read.count) return undefined;
    const names = new Set(read.notices.map((n) => n.username));
    const [only] = names;
    return names.size === 1 && only !== undefined ? only : undefined;
  }

  async has(credentialId: string): Promise<boolean> {
    return (await this.redis.llen(this.key(credentialId))) > 0;
  }

  /** Removes the first `count` notices (those a completed rotation answered); later ones stay. */
  async consume(credentialId: string, count: number): Promise<void> {
    if (count <= 0) return;
    await this.redis.ltrim(this.key(credentialId), count, -1);
  }
}
