/**
 * Matches a leaked token to the credentials it belongs to, without keeping a password, or a plain
 * hash of one, anywhere new (issue 5; DESIGN section 5, last invariant).
 *
 * Why a keyed index: a leak alert may name the leak only by what leaked (GitHub sends the raw
 * text, a generic sender may send its SHA-256). Comparing needs something derived from our
 * passwords. A plain SHA-256 of a password kept in memory would be a password verifier that a heap
 * dump or a debug print could leak, and our passwords are long random strings, so the hash would be
 * as good as the password for anyone matching leaks. Instead each entry is
 *
 *   HMAC-SHA256(K, sha256hex(password))  and  HMAC-SHA256(K, sha256hex(username + ":" + password))
 *
 * with K 32 random bytes drawn when the index is built, held only as a KeyObject (whose inspection
 * shows no bytes), never persisted, never logged. Without K the entries verify nothing; with the
 * process gone, K is gone. A leaked token is hashed the same way and looked up.
 *
 * Which values: every version under AWSCURRENT, AWSPENDING and AWSPREVIOUS, read through the
 * SecretStore port. Pending, because a leak during a rotation may be of the new password already
 * written ahead; previous, because a cluster one step behind still accepts it (DESIGN section 5).
 *
 * Freshness: refresh() reloads everything (the caller runs it at startup and on a timer);
 * refreshCredential() after a rotation of one credential; and a miss may trigger one rate-limited
 * refresh before answering "no match", so an alert for a password rotated a moment ago is still
 * matched.
 *
 * Passwords are read, hashed and dropped inside one function call; no reference to a secret value
 * outlives loadCredential(). (JavaScript strings cannot be wiped; the guarantee is that nothing
 * keeps one reachable.)
 */
import { createHash, createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import type { CredentialConfig } from '../config/types.ts';
import { coerceError } from '../errors.ts';
import { parseCredentialSecret } from '../rotation/secret-value.ts';
import { STAGE, type SecretStore, type Stage } from '../secrets/types.ts';

/** The stages indexed, in the order matches are reported (most live first). */
export const INDEXED_STAGES = [STAGE.current, STAGE.pending, STAGE.previous] as const satisfies readonly Stage[];

/** A leaked value found in a credential's secret. */
export interface FingerprintMatch {
  credential: string;
  /** The staging label of the version that holds the leaked password. */
  stage: Stage;
  versionId: string;
  /** The Milvus user that version names (not a secret): an alternating credential's leaked user. */
  username?: string;
}

export interface FingerprintIndexOptions {
  /** Read-only access to Secrets Manager; only getByStage is used. */
  store: Pick<SecretStore, 'getByStage'>;
  /** The configured credentials (config `credentials`). */
  credentials: Readonly<Record<string, Pick<CredentialConfig, 'id' | 'secretId'>>>;
  /** Wall clock, epoch ms: the refresh-on-miss rate limit and `lastRefreshAt`. @defaultValue Date.now */
  nowMs?: () => number;
  /**
   * A miss triggers a full refresh at most once per this interval, so a flood of unmatched alerts
   * costs at most 3 GetSecretValue per credential per interval. @defaultValue 30000
   */
  refreshOnMissIntervalMs?: number;
  /** Credentials loaded at once during refresh() (each is 3 reads in parallel). @defaultValue 8 */
  concurrency?: number;
}

export const FINGERPRINT_INDEX_DEFAULTS = {
  refreshOnMissIntervalMs: 30_000,
  concurrency: 8,
} as const satisfies Required<Pick<FingerprintIndexOptions, 'refreshOnMissIntervalMs' | 'concurrency'>>;

/** One credential that could not be (re)loaded. Its previous entries are kept (see loadCredential). */
export interface RefreshFailure {
  credential: string;
  /** The store's error (its message names the operation and secret id, never a value). */
  error: Error;
}

/** A version whose value is not a credential secret: it cannot be matched, and someone should look. */
export interface UnparseableVersion {
  credential: string;
  stage: Stage;
  versionId: string;
}

export interface RefreshReport {
  /** Credentials attempted. */
  credentials: number;
  /** Credentials whose entries were replaced by a fresh read. */
  loaded: number;
  failed: RefreshFailure[];
  unparseable: UnparseableVersion[];
}

/** Fingerprints of one credential from one complete read. */
interface CredentialLoad {
  entries: Map<string, FingerprintMatch>;
  unparseable: UnparseableVersion[];
}

const SHA256_HEX_PATTERN = /^[0-9a-fA-F]{64}$/;

export class FingerprintIndex {
  /** K. A KeyObject, so util.inspect and JSON.stringify show no key bytes. */
  private readonly key: KeyObject;
  private readonly store: Pick<SecretStore, 'getByStage'>;
  private readonly credentials: Readonly<Record<string, Pick<CredentialConfig, 'id' | 'secretId'>>>;
  private readonly nowMs: () => number;
  private readonly refreshOnMissIntervalMs: number;
  private readonly concurrency: number;

  /** Fingerprint -> the versions holding a value with that fingerprint. */
  private readonly byFingerprint = new Map<string, FingerprintMatch[]>();
  /** Credential id -> the fingerprints it contributed, so a reload replaces exactly its own. */
  private readonly byCredential = new Map<string, Map<string, FingerprintMatch>>();
  /**
   * Loads are numbered as they start; a load commits only if no later-started load of the same
   * credential has committed. Without this a slow full refresh that read a credential before its
   * rotation could overwrite what refreshCredential() read after it.
   */
  private loadsStarted = 0;
  private readonly committedLoad = new Map<string, number>();
  private refreshInFlight: Promise<RefreshReport> | null = null;
  private lastMissRefreshAtMs: number | null = null;
  private lastRefreshAtMs: number | null = null;

  constructor(options: FingerprintIndexOptions) {
    const refreshOnMissIntervalMs = options.refreshOnMissIntervalMs ?? FINGERPRINT_INDEX_DEFAULTS.refreshOnMissIntervalMs;
    const concurrency = options.concurrency ?? FINGERPRINT_INDEX_DEFAULTS.concurrency;
    if (!(refreshOnMissIntervalMs >= 0)) throw new RangeError('refreshOnMissIntervalMs must be >= 0');
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError('concurrency must be an integer >= 1');
    const keyBytes = randomBytes(32);
    this.key = createSecretKey(keyBytes);
    keyBytes.fill(0);
    this.store = options.store;
    this.credentials = options.credentials;
    this.nowMs = options.nowMs ?? Date.now;
    this.refreshOnMissIntervalMs = refreshOnMissIntervalMs;
    this.concurrency = concurrency;
  }

  /** Fingerprints held (two per indexed version). For readiness and a gauge. */
  size(): number {
    return this.byFingerprint.size;
  }

  /** When the last full refresh finished (failures included), or null before the first. */
  get lastRefreshAt(): Date | null {
    return this.lastRefreshAtMs === null ? null : new Date(this.lastRefreshAtMs);
  }

  /**
   * Reloads every configured credential, `concurrency` at a time, and drops entries of credentials
   * no longer configured. A credential that fails is reported and keeps its previous entries; it
   * never fails the whole refresh. Calls made while a refresh runs share it.
   */
  refresh(): Promise<RefreshReport> {
    this.refreshInFlight ??= this.refreshAll().finally(() => {
      this.refreshInFlight = null;
    });
    return this.refreshInFlight;
  }

  /** Reloads one credential (after its rotation). An id that is not configured loses its entries. */
  async refreshCredential(id: string): Promise<RefreshReport> {
    const report: RefreshReport = { credentials: 0, loaded: 0, failed: [], unparseable: [] };
    const credential = Object.hasOwn(this.credentials, id) ? this.credentials[id] : undefined;
    if (credential === undefined) {
      this.replaceEntries(id, new Map());
      return report;
    }
    report.credentials = 1;
    await this.reload(credential, report);
    return report;
  }

  /**
   * Which versions hold a password whose SHA-256 (of the password, or of `username:password`) is
   * `tokenSha256`. Hex, either case. Empty when nothing matches, after at most one refresh.
   */
  async match(query: { tokenSha256: string }): Promise<FingerprintMatch[]> {
    if (!SHA256_HEX_PATTERN.test(query.tokenSha256)) throw new RangeError('tokenSha256 must be 64 hex characters');
    return this.lookUpWithRefresh([query.tokenSha256.toLowerCase()]);
  }

  /**
   * Which versions hold the leaked text: as a password, as `username:password`, as the part after
   * the first colon of a `user:password` leak, or as the password in a URL's userinfo
   * (`https://user:pass@host`). The raw text is hashed at once and not kept.
   */
  async matchToken(rawToken: string): Promise<FingerprintMatch[]> {
    const hashes = tokenCandidates(rawToken).map(sha256Hex);
    return this.lookUpWithRefresh(hashes);
  }

  private async lookUpWithRefresh(sha256Hexes: readonly string[]): Promise<FingerprintMatch[]> {
    const found = this.lookUp(sha256Hexes);
    if (found.length > 0) return found;
    if (!(await this.refreshOnMiss())) return found;
    return this.lookUp(sha256Hexes);
  }

  /**
   * Whether a refresh ran for this miss. A refresh already running is awaited (it may hold the
   * answer and costs nothing extra); otherwise one starts if the last miss-triggered refresh is at
   * least `refreshOnMissIntervalMs` old. The rate limit is what keeps unmatched alerts from turning
   * into a read storm on Secrets Manager.
   */
  private async refreshOnMiss(): Promise<boolean> {
    if (this.refreshInFlight !== null) {
      await this.refreshInFlight;
      return true;
    }
    const now = this.nowMs();
    if (this.lastMissRefreshAtMs !== null && now - this.lastMissRefreshAtMs < this.refreshOnMissIntervalMs) return false;
    this.lastMissRefreshAtMs = now;
    await this.refresh();
    return true;
  }

  private lookUp(sha256Hexes: readonly string[]): FingerprintMatch[] {
    const found = new Map<string, FingerprintMatch>();
    for (const hex of sha256Hexes) {
      for (const match of this.byFingerprint.get(this.fingerprint(hex)) ?? []) {
        found.set(`${match.credential}\n${match.stage}\n${match.versionId}`, { ...match });
      }
    }
    return [...found.values()].sort(
      (a, b) => INDEXED_STAGES.indexOf(a.stage) - INDEXED_STAGES.indexOf(b.stage) || a.credential.localeCompare(b.credential),
    );
  }

  /** HMAC(K, sha256 hex), base64url: the only form in which a password's trace is kept. */
  private fingerprint(sha256HexLower: string): string {
    return createHmac('sha256', this.key).update(sha256HexLower).digest('base64url');
  }

  private async refreshAll(): Promise<RefreshReport> {
    const credentials = Object.values(this.credentials);
    const report: RefreshReport = { credentials: credentials.length, loaded: 0, failed: [], unparseable: [] };
    for (const id of [...this.byCredential.keys()]) {
      if (!Object.hasOwn(this.credentials, id)) this.replaceEntries(id, new Map());
    }
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < credentials.length) {
        const credential = credentials[next++];
        if (credential !== undefined) await this.reload(credential, report);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, credentials.length) }, worker));
    this.lastRefreshAtMs = this.nowMs();
    return report;
  }

  /** Loads one credential and commits it unless a later load already did; records the outcome in `report`. */
  private async reload(credential: Pick<CredentialConfig, 'id' | 'secretId'>, report: RefreshReport): Promise<void> {
    const ticket = ++this.loadsStarted;
    let load: CredentialLoad;
    try {
      load = await this.loadCredential(credential);
    } catch (error) {
      // Old entries stay: a password that was under a label a moment ago may still be live, and
      // a read error (throttling, KMS) says nothing about the values.
      report.failed.push({ credential: credential.id, error: coerceError(error) });
      return;
    }
    report.unparseable.push(...load.unparseable);
    if (ticket < (this.committedLoad.get(credential.id) ?? 0)) return;
    this.committedLoad.set(credential.id, ticket);
    this.replaceEntries(credential.id, load.entries);
    report.loaded++;
  }

  /**
   * Reads the three labelled versions and returns their fingerprints. All three reads must
   * succeed, so a credential is replaced from one complete view or not at all. This is the only
   * function that sees a password; none leaves it.
   */
  private async loadCredential(credential: Pick<CredentialConfig, 'id' | 'secretId'>): Promise<CredentialLoad> {
    const versions = await Promise.all(INDEXED_STAGES.map((stage) => this.store.getByStage(credential.secretId, stage)));
    const entries = new Map<string, FingerprintMatch>();
    const unparseable: UnparseableVersion[] = [];
    INDEXED_STAGES.forEach((stage, index) => {
      const version = versions[index];
      if (version === null || version === undefined) return;
      const secret = parseCredentialSecret(version.value);
      if (secret === null) {
        unparseable.push({ credential: credential.id, stage, versionId: version.versionId });
        return;
      }
      const match: FingerprintMatch = { credential: credential.id, stage, versionId: version.versionId, username: secret.username };
      entries.set(this.fingerprint(sha256Hex(secret.password)), match);
      entries.set(this.fingerprint(sha256Hex(`${secret.username}:${secret.password}`)), match);
    });
    return { entries, unparseable };
  }

  private replaceEntries(credentialId: string, entries: Map<string, FingerprintMatch>): void {
    for (const fingerprint of this.byCredential.get(credentialId)?.keys() ?? []) {
      const remaining = (this.byFingerprint.get(fingerprint) ?? []).filter((match) => match.credential !== credentialId);
      if (remaining.length === 0) this.byFingerprint.delete(fingerprint);
      else this.byFingerprint.set(fingerprint, remaining);
    }
    if (entries.size === 0) {
      this.byCredential.delete(credentialId);
      return;
    }
    for (const [fingerprint, match] of entries) {
      this.byFingerprint.set(fingerprint, [...(this.byFingerprint.get(fingerprint) ?? []), match]);
    }
    this.byCredential.set(credentialId, entries);
  }
}

/**
 * The strings a leaked text may be the SHA-256 input of: the text itself (a password or a
 * `user:password`), trimmed, the part after the first colon (`user:password`), and for a URL with
 * userinfo its password and `user:password`, decoded and as written.
 */
export function tokenCandidates(rawToken: string): string[] {
  const candidates = new Set<string>();
  const add = (value: string): void => {
    if (value !== '') candidates.add(value);
  };
  const trimmed = rawToken.trim();
  add(rawToken);
  add(trimmed);
  const colon = trimmed.indexOf(':');
  if (colon >= 0) add(trimmed.slice(colon + 1));
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(trimmed)) {
    const url = URL.parse(trimmed);
    if (url !== null && url.password !== '') {
      const username = decodeOrSelf(url.username);
      const password = decodeOrSelf(url.password);
      add(password);
      add(url.password);
      add(`${username}:${password}`);
    }
  }
  return [...candidates];
}

function decodeOrSelf(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
