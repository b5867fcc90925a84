import type { RedisClient } from './redis-client.ts';
import type { FleetFacts } from '../observability/metrics.ts';

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

  async readAll(): Promise<FleetFacts> {
    const names = Object.keys(CREDENTIAL_FACT) as (keyof typeof CREDENTIAL_FACT)[];
    const multi = this.redis.multi();
    for (const name of names) multi.hgetall(this.key(CREDENTIAL_FACT[name]));
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
    return out;
  }

  /** Drops credentials no longer configured, so their series end. */
  async retain(credentialIds: readonly string[]): Promise<void> {
    const keep = new Set(credentialIds);
    for (const fact of Object.values(CREDENTIAL_FACT)) {
      const stale = (await this.redis.hkeys(this.key(fact))).filter((id) => !keep.has(id));
      if (stale.length > 0) await this.redis.hdel(this.key(fact), ...stale);
    }
  }
}
