/**
 * From a verified, parsed alert to the credentials to rotate. Three ways, as the alert named it:
 *
 * 1. by credential id: that credential, if configured;
 * 2. by username + cluster: every configured credential with that username on that cluster (two
 *    credentials may share a Milvus user on different secrets; a leak of the user's password on
 *    a cluster concerns each of them);
 * 3. by token (a SHA-256 from the generic feed, raw text from GitHub): the fingerprint index.
 *
 * Nothing matched is an empty list, not an error: the HTTP layer answers 202 with nothing queued
 * (generic) or 2xx (GitHub expects it for tokens that are not ours). Each credential appears once,
 * with the first way that found it, so a batch naming one password twice queues one rotation.
 */
import { STRATEGY, usernamesOf, type Config } from '../config/types.ts';
import type { Stage } from '../secrets/types.ts';
import { INDEXED_STAGES, type FingerprintIndex, type FingerprintMatch } from './fingerprint-index.ts';
import { LEAK_NAMED_BY, type GenericAlert, type LeakNamedBy } from './generic-alert.ts';
import type { GithubTokenMatch } from './github-partner.ts';
import type { LeakClaim } from './leak-feed.ts';

export interface ResolvedCredential {
  credential: string;
  via: LeakNamedBy;
  /** For `via: 'token'`: the staging label of the version that holds the leaked password. */
  stage?: Stage;
  /** For `via: 'token'`: that version's id. */
  versionId?: string;
  /**
   * The Milvus user whose password leaked, when the alert names it (`via: 'username-cluster'`),
   * or, for an alternating credential found by token, the user every matched version names (a
   * leak of the retired user's password is then one turn, not two).
   */
  username?: string;
}

export interface ResolveDeps {
  config: Pick<Config, 'credentials'>;
  index: Pick<FingerprintIndex, 'match' | 'matchToken'>;
}

/** The credentials a generic alert names. */
export async function resolveGenericAlert(alert: GenericAlert, deps: ResolveDeps): Promise<ResolvedCredential[]> {
  const { credentials } = deps.config;
  switch (alert.by) {
    case LEAK_NAMED_BY.credential:
      // hasOwn: an id such as "constructor" must not find Object.prototype's member.
      return Object.hasOwn(credentials, alert.credential) ? [{ credential: alert.credential, via: LEAK_NAMED_BY.credential }] : [];
    case LEAK_NAMED_BY.usernameCluster:
      return Object.values(credentials)
        .filter((credential) => usernamesOf(credential).includes(alert.username) && credential.clusters.includes(alert.cluster))
        .map((credential) => ({ credential: credential.id, via: LEAK_NAMED_BY.usernameCluster, username: alert.username }));
    case LEAK_NAMED_BY.token:
      return fromMatches(await deps.index.match({ tokenSha256: alert.tokenSha256 }), deps.config);
    default:
      return assertNever(alert);
  }
}

/**
 * The credentials a GitHub batch names. Tokens are looked up one after another: a miss may refresh
 * the index once (rate-limited), and the tokens after it then see the fresh index.
 */
export async function resolveGithubMatches(
  matches: readonly Pick<GithubTokenMatch, 'token'>[],
  deps: ResolveDeps,
): Promise<ResolvedCredential[]> {
  const found: FingerprintMatch[] = [];
  for (const match of matches) found.push(...(await deps.index.matchToken(match.token)));
  return fromMatches(found, deps.config);
}

/** The credentials one claim of any feed names (see ./leak-feed.ts). */
export async function resolveClaim(claim: LeakClaim, deps: ResolveDeps): Promise<ResolvedCredential[]> {
  if (claim.by === 'literal') return fromMatches(await deps.index.matchToken(claim.token), deps.config);
  return resolveGenericAlert(claim, deps);
}

/**
 * One entry per credential, keeping its most live match (AWSCURRENT, then AWSPENDING, then
 * AWSPREVIOUS). An alternating credential's entry names the leaked user when all its matches
 * name the same one; matches of both users leave it unnamed (both may have leaked: two turns).
 */
function fromMatches(matches: readonly FingerprintMatch[], config: Pick<Config, 'credentials'>): ResolvedCredential[] {
  const byCredential = new Map<string, ResolvedCredential>();
  const ordered = [...matches].sort((a, b) => INDEXED_STAGES.indexOf(a.stage) - INDEXED_STAGES.indexOf(b.stage));
  for (const match of ordered) {
    if (!byCredential.has(match.credential)) {
      byCredential.set(match.credential, {
        credential: match.credential,
        via: LEAK_NAMED_BY.token,
        stage: match.stage,
        versionId: match.versionId,
      });
    }
  }
  for (const entry of byCredential.values()) {
    if (config.credentials[entry.credential]?.strategy !== STRATEGY.alternating) continue;
    const users = new Set(matches.filter((m) => m.credential === entry.credential).map((m) => m.username));
    const [only] = users;
    if (users.size === 1 && only !== undefined) entry.username = only;
  }
  return [...byCredential.values()];
}

function assertNever(value: never): never {
  throw new Error(`unhandled alert kind: ${JSON.stringify((value as { by?: unknown }).by)}`);
}
