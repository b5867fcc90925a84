import { z } from 'zod';
import type { AlternatingCredentialConfig } from '../config/types.ts';
import type { FleetFacts } from '../observability/metrics.ts';
import { OUTCOME, REASON, type RotationResult } from '../rotation/types.ts';
import type { RedisClient } from './redis-client.ts';

/** Per-credential facts the gauges report, as unix seconds (ages are computed when scraped). */
export const CREDENTIAL_FACT = {
  /** 1 while the last rotation or reconcile says a human must look, else 0. */
  needsAttention: 'needs-attention',
  /** When AWSCURRENT's version was created. */
  currentSince: 'current-since',
  /** When the pending version (on another version than AWSCURRENT) was created; 0 when none. */
  pendingSince: 'pending-since',
  /** The longest the credential may go unrotated, in seconds. */
  maxAgeSeconds: 'max-age-seconds',
  /** When the credential was last rotated. */
  lastRotation: 'last-rotation',
} as const;
export type CredentialFact = (typeof CREDENTIAL_FACT)[keyof typeof CREDENTIAL_FACT];

/**
 * An alternating credential's users and grace, as the last rotation or reconcile saw them. User
 * names (from the config) and a version id only, never a password.
 */
export interface AlternatingState {
  /** The configured user under AWSCURRENT (the one consumers are given). */
  activeUser: string;
  /** The other configured user (retired: under AWSPREVIOUS once onboarded, still valid). */
  retiredUser: string;
  /** When the retired user's grace ends (unix seconds): from then on a scheduled or manual rotation is allowed. Null when unknown. */
  graceEndsAt: number | null;
  /** The AWSCURRENT version these were taken for; null when not known (reconcile takes them again). */
  versionId: string | null;
}

const alternatingStateSchema = z.object({
  activeUser: z.string().min(1).max(256),
  retiredUser: z.string().min(1).max(256),
  graceEndsAt: z.number().finite().nullable(),
  versionId: z.string().max(256).nullable(),
});

/**
 * What a rotation's result says of its alternating credential when the rotation moved AWSCURRENT,
 * or null. The strategy knows the instant it promoted, so its grace end is the one to record. The cases:
 *  1. no alternating summary, or its AWSCURRENT user is not a configured one (refused at load:
 *     username_mismatch, an unreadable secret): nothing;
 *  2. finish_unknown: whether AWSCURRENT moved is not known, so neither is which user it holds: nothing;
 *  3. this run promoted nothing (no grace end in the summary, or the grace refused it: that end is
 *     the rule's, from the promotion recorded before): nothing, AWSCURRENT did not move (or an
 *     earlier run of the same rotation moved it and recorded it; reconcile covers a crash between);
 *  4. otherwise the users and the grace end; the version when the run ended rotated (ok), else
 *     null (a leak's second turn failed after the first promoted), so that reconcile takes the
 *     facts again.
 */
export function alternatingStateOf(credential: AlternatingCredentialConfig, result: RotationResult): AlternatingState | null {
  const summary = result.alternating;
  const [first, second] = credential.usernames;
  if (!summary || (summary.currentUser !== first && summary.currentUser !== second)) return null; // case 1
  if (result.reason === REASON.finishUnknown) return null; // case 2
  if (summary.graceEndsAt === undefined || result.reason === REASON.graceNotElapsed) return null; // case 3
  const graceEndsAtMs = Date.parse(summary.graceEndsAt);
  return {
    activeUser: summary.currentUser,
    retiredUser: summary.currentUser === first ? second : first,
    graceEndsAt: Number.isFinite(graceEndsAtMs) ? Math.floor(graceEndsAtMs / 1000) : null,
    versionId: result.outcome === OUTCOME.rotated && result.reason === REASON.ok ? result.versionId : null,
  }; // case 4
}


/**
 * Fleet-wide per-credential facts in Redis (one hash per fact, credential id -> number), written
 * by whichever replica ran the rotation or the reconcile, read by every replica when /metrics is
 * scraped. Without it each replica reports what it alone saw, and a stale 1 on one replica keeps
 * a needs-attention alert firing after another replica fixed the credential.
 */
export class CredentialStateStore {
  private readonly redis: RedisClient;
  private readonly prefix: string;

  constructor(redis: RedisClient, prefix: string) {
    this.redis = redis;
    this.prefix = prefix;
  }

  private key(fact: CredentialFact): string {
    return `${this.prefix}:credential-state:${fact}`;
  }

  /** Alternating credentials: credential id -> AlternatingState as JSON. */
  private get alternatingKey(): string {
    return `${this.prefix}:credential-state:alternating`;
  }

  async record(credentialId: string, facts: Partial<Record<CredentialFact, number>>): Promise<void> {
    const multi = this.redis.multi();
    for (const [fact, value] of Object.entries(facts) as [CredentialFact, number][]) multi.hset(this.key(fact), credentialId, String(value));
    await multi.exec();
  }

  /** Some facts of one credential (absent when never recorded). */
  async readFacts(credentialId: string, facts: readonly CredentialFact[]): Promise<Partial<Record<CredentialFact, number>>> {
    const multi = this.redis.multi();
    for (const fact of facts) multi.hget(this.key(fact), credentialId);
    const replies = (await multi.exec()) ?? [];
    const out: Partial<Record<CredentialFact, number>> = {};
    facts.forEach((fact, i) => {
      const [err, value] = replies[i] ?? [null, null];
      if (err) throw err;
      if (typeof value === 'string' && Number.isFinite(Number(value))) out[fact] = Number(value);
    });
    return out;
  }

  /** Records an alternating credential's users and grace (replacing what was there). */
  async recordAlternating(credentialId: string, state: AlternatingState): Promise<void> {
    await this.redis.hset(this.alternatingKey, credentialId, JSON.stringify(state));
  }

  /** An alternating credential's last recorded users and grace; null when none (or unreadable). */
  async readAlternating(credentialId: string): Promise<AlternatingState | null> {
    return parseAlternating(await this.redis.hget(this.alternatingKey, credentialId));
  }

  async readAll(): Promise<FleetFacts> {
    const names = Object.keys(CREDENTIAL_FACT) as (keyof typeof CREDENTIAL_FACT)[];
    const multi = this.redis.multi();
    for (const name of names) multi.hgetall(this.key(CREDENTIAL_FACT[name]));
    multi.hgetall(this.alternatingKey);
    const replies = (await multi.exec()) ?? [];
    const out: Record<keyof typeof CREDENTIAL_FACT, Map<string, number>> = {
      needsAttention: new Map(),
      currentSince: new Map(),
      pendingSince: new Map(),
      maxAgeSeconds: new Map(),
      lastRotation: new Map(),
    };
    names.forEach((name, i) => {
      const [err, hash] = replies[i] ?? [null, {}];
      if (err || !hash) return;
      for (const [credential, value] of Object.entries(hash as Record<string, string>)) out[name].set(credential, Number(value));
    });
    const alternating = new Map<string, AlternatingState>();
    const [err, hash] = replies[names.length] ?? [null, {}];
    if (!err && hash) {
      for (const [credential, text] of Object.entries(hash as Record<string, string>)) {
        const state = parseAlternating(text);
        if (state) alternating.set(credential, state);
      }
    }
    return { ...out, alternating };
  }

  /**
   * Drops credentials no longer configured, so their series end; the alternating facts of a
   * credential no longer alternating too (`alternatingIds`, default: every id kept).
   */
  async retain(credentialIds: readonly string[], alternatingIds: readonly string[] = credentialIds): Promise<void> {
    const keep = new Set(credentialIds);
    for (const fact of Object.values(CREDENTIAL_FACT)) {
      const stale = (await this.redis.hkeys(this.key(fact))).filter((id) => !keep.has(id));
      if (stale.length > 0) await this.redis.hdel(this.key(fact), ...stale);
    }
    const alternating = new Set(alternatingIds);
    const stale = (await this.redis.hkeys(this.alternatingKey)).filter((id) => !keep.has(id) || !alternating.has(id));
    if (stale.length > 0) await this.redis.hdel(this.alternatingKey, ...stale);
  }
}

/** An AlternatingState from its JSON in Redis; null when absent or not one (written by another version, damaged). */
function parseAlternating(text: string | null | undefined): AlternatingState | null {
  if (!text) return null;
  try {
    const parsed = alternatingStateSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
