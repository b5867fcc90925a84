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
/** The most recent notices kept per credential with their ids (older ones are only counted). */
export const RECENT_NOTICES_KEPT = 100;
/** A leak rotation answers alerts arriving this long after it completed (coalescing window). */
export const LEAK_COALESCE_MS = 60_000;

/** What a rotation reads: bounded whatever the number of alerts. */
export interface LeakNoticeSummary {
  /** The user whose password leaked when every waiting notice named the same one; else undefined (any user may have). */
  username?: string;
  /** Every waiting alert, counted (not listed). */
  count: number;
  /** The earliest receipt among them (unix ms); null when none wait. */
  firstReceivedAt: number | null;
  /** The last RECENT_NOTICES_KEPT notices, oldest first. */
  recent: LeakNotice[];
  /** What `consume` needs to remove exactly these (alerts arriving later stay). */
  readonly mark: { seq: number; count: number; legacyCount: number };
}

/** The last leak rotation of a credential: it answers alerts naming no password it did not replace. */
export interface LeakAnswerRecord {
  /** When it completed (unix ms). */
  at: number;
  /** The version it made AWSCURRENT (the rotation id). */
  versionId: string;
  jobId: string;
}

const answerSchema = z.object({ at: z.number(), versionId: z.string().max(128), jobId: z.string().max(128) });

/*
 * Layout per credential (all under the configured prefix, one hash slot):
 *   <prefix>:leak-notices:<id>  hash {count, first, seq, user}: how many wait, the earliest receipt, a
 *                               sequence, and the user every notice named (`*`: none or several)
 *   <prefix>:leak-recent:<id>   list of "<seq>\t<receivedAt>\t<notice json>", the last RECENT_NOTICES_KEPT
 *   <prefix>:leak:<id>          the unbounded list of earlier versions: read in bounded ranges and drained
 *   <prefix>:leak-answered      hash id -> LeakAnswerRecord json
 */
const PUSH_SCRIPT = `
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('HINCRBY', KEYS[1], 'count', 1)
local first = tonumber(redis.call('HGET', KEYS[1], 'first'))
local user = redis.call('HGET', KEYS[1], 'user')
local named = ARGV[5]
if named == '' then named = '*' end
if seq == 1 or user == false then redis.call('HSET', KEYS[1], 'user', named)
elseif user ~= named then redis.call('HSET', KEYS[1], 'user', '*') end
if first == nil or tonumber(ARGV[1]) < first then redis.call('HSET', KEYS[1], 'first', ARGV[1]) end
redis.call('RPUSH', KEYS[2], seq .. '\\t' .. ARGV[1] .. '\\t' .. ARGV[2])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
return seq`;

const READ_SCRIPT = `
local h = redis.call('HMGET', KEYS[1], 'count', 'first', 'seq', 'user')
local recent = redis.call('LRANGE', KEYS[2], 0, -1)
local legacyCount = redis.call('LLEN', KEYS[3])
local legacyFirst = false
local legacyRecent = {}
if legacyCount > 0 then
  legacyFirst = redis.call('LINDEX', KEYS[3], 0)
  legacyRecent = redis.call('LRANGE', KEYS[3], -tonumber(ARGV[1]), -1)
end
return {h[1] or false, h[2] or false, h[3] or false, recent, legacyCount, legacyFirst, legacyRecent, h[4] or false}`;

/** Removes what a read saw; recomputes `first` from the notices that arrived after it. */
const CONSUME_SCRIPT = `
local left = tonumber(redis.call('HGET', KEYS[1], 'count') or '0') - tonumber(ARGV[1])
if left <= 0 then
  redis.call('DEL', KEYS[1], KEYS[2])
else
  local items = redis.call('LRANGE', KEYS[2], 0, -1)
  local keep = {}
  local first = nil
  for _, item in ipairs(items) do
    local seq, at = string.match(item, '^(%d+)\\t(%d+)\\t')
    if seq and tonumber(seq) > tonumber(ARGV[2]) then
      table.insert(keep, item)
      if first == nil or tonumber(at) < first then first = tonumber(at) end
    end
  end
  redis.call('DEL', KEYS[2])
  if #keep > 0 then redis.call('RPUSH', KEYS[2], unpack(keep)) redis.call('EXPIRE', KEYS[2], ARGV[6]) end
  redis.call('HSET', KEYS[1], 'count', left)
  if first ~= nil then redis.call('HSET', KEYS[1], 'first', first) end
end
if tonumber(ARGV[3]) > 0 then redis.call('LTRIM', KEYS[3], ARGV[3], -1) end
if ARGV[4] ~= '' then redis.call('HSET', KEYS[4], ARGV[5], ARGV[4]) end
return left`;

function parseNotice(text: string): LeakNotice | null {
  try {
    return leakNoticeSchema.parse(JSON.parse(text));
  } catch {
    return null; // A malformed entry still counts as a leak (count), it just carries no details.
  }
}

/** "<seq>\t<receivedAt>\t<json>" -> the notice. */
function parseRecent(item: string): LeakNotice | null {
  const parts = item.split('\t');
  return parts.length >= 3 ? parseNotice(parts.slice(2).join('\t')) : null;
}

function toNumber(value: unknown): number | null {
  const n = typeof value === 'string' ? Number(value) : typeof value === 'number' ? value : Number.NaN;
  return Number.isFinite(n) ? n : null;
}

function asStrings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/**
 * Per-credential leak alerts not yet answered by a completed rotation, bounded: a count, the
 * earliest receipt and the last RECENT_NOTICES_KEPT notices, whatever the number of alerts (a
 * flood of signed alerts for a credential that cannot reach `rotated` once grew an unbounded list
 * that every rotation read whole). A rotation job runs in leak mode whenever its credential has
 * notices, whatever mode it was queued with; this closes the race where a leak add is deduplicated
 * into a scheduled job that starts before its data can be changed. Only a `rotated` outcome
 * consumes notices, and only those it read: an alert arriving during the rotation keeps its
 * notice for the next run.
 */
export class LeakFlags {
  private readonly redis: RedisClient;
  private readonly prefix: string;

  constructor(redis: RedisClient, prefix: string) {
    this.redis = redis;
    this.prefix = prefix;
  }

  private keys(credentialId: string): [string, string, string] {
    return [`${this.prefix}:leak-notices:${credentialId}`, `${this.prefix}:leak-recent:${credentialId}`, `${this.prefix}:leak:${credentialId}`];
  }

  private get answeredKey(): string {
    return `${this.prefix}:leak-answered`;
  }

  async push(credentialId: string, notice: LeakNotice): Promise<void> {
    const [summary, recent] = this.keys(credentialId);
    await this.redis.eval(
      PUSH_SCRIPT,
      2,
      summary,
      recent,
      String(notice.receivedAt),
      JSON.stringify(notice),
      String(RECENT_NOTICES_KEPT),
      String(NOTICE_TTL_SECONDS),
      notice.username ?? '',
    );
  }

  /** The waiting notices, bounded (one round trip, at most 2 x RECENT_NOTICES_KEPT entries read). */
  async read(credentialId: string): Promise<LeakNoticeSummary> {
    const keys = this.keys(credentialId);
    const reply = (await this.redis.eval(READ_SCRIPT, 3, ...keys, String(RECENT_NOTICES_KEPT))) as unknown[];
    const count = toNumber(reply[0]) ?? 0;
    const first = toNumber(reply[1]);
    const seq = toNumber(reply[2]) ?? 0;
    const legacyCount = toNumber(reply[4]) ?? 0;
    const legacyFirst = typeof reply[5] === 'string' ? parseNotice(reply[5])?.receivedAt ?? null : null;
    const recent = [
      ...asStrings(reply[6]).map(parseNotice),
      ...asStrings(reply[3]).map(parseRecent),
    ].filter((n): n is LeakNotice => n !== null).slice(-RECENT_NOTICES_KEPT);
    const firsts = [first, legacyFirst].filter((n): n is number => n !== null);
    // Old-format notices carry no user: with any of them waiting, every user may have leaked.
    const user = typeof reply[7] === 'string' && reply[7] !== '*' && legacyCount === 0 ? reply[7] : undefined;
    return {
      ...(user === undefined ? {} : { username: user }),
      count: count + legacyCount,
      firstReceivedAt: firsts.length === 0 ? (count + legacyCount > 0 ? (recent[0]?.receivedAt ?? null) : null) : firsts.reduce((a, b) => (b < a ? b : a)),
      recent,
      mark: { seq, count, legacyCount },
    };
  }

  /**
   * The user whose password leaked, when every waiting notice names the same one; undefined when
   * any notice names none (or could not be read) or they name different users: then every user
   * of the credential may have leaked.
   */
  static leakedUsername(read: Pick<LeakNoticeSummary, 'count' | 'username'>): string | undefined {
    return read.count > 0 ? read.username : undefined;
  }

  async has(credentialId: string): Promise<boolean> {
    const [summary, , legacy] = this.keys(credentialId);
    const [withCount, legacyLength] = await Promise.all([this.redis.hget(summary, 'count'), this.redis.llen(legacy)]);
    return (toNumber(withCount) ?? 0) > 0 || legacyLength > 0;
  }

  /**
   * Removes the notices of `read` (those a completed rotation answered); later ones stay. With
   * `answer`, records the rotation as the credential's last leak answer (coalescing, see recentAnswer).
   */
  async consume(credentialId: string, read: Pick<LeakNoticeSummary, 'mark'>, answer?: LeakAnswerRecord): Promise<void> {
    const { mark } = read;
    if (mark.count + mark.legacyCount <= 0 && answer === undefined) return;
    await this.redis.eval(
      CONSUME_SCRIPT,
      4,
      ...this.keys(credentialId),
      this.answeredKey,
      String(mark.count),
      String(mark.seq),
      String(mark.legacyCount),
      answer === undefined ? '' : JSON.stringify(answer),
      credentialId,
      String(NOTICE_TTL_SECONDS),
    );
  }

  /** Drops every waiting notice of a credential (the operator's `leak-notices clear`); returns how many there were. */
  async clear(credentialId: string): Promise<number> {
    const { count } = await this.read(credentialId);
    await this.redis.del(...this.keys(credentialId));
    return count;
  }

  /** The credential's last leak rotation when it completed less than LEAK_COALESCE_MS before `nowMs`. */
  async recentAnswer(credentialId: string, nowMs: number): Promise<LeakAnswerRecord | null> {
    const raw = await this.redis.hget(this.answeredKey, credentialId);
    if (raw === null) return null;
    let parsed: LeakAnswerRecord;
    try {
      parsed = answerSchema.parse(JSON.parse(raw));
    } catch {
      return null;
    }
    return nowMs - parsed.at < LEAK_COALESCE_MS && parsed.at <= nowMs ? parsed : null;
  }
}
