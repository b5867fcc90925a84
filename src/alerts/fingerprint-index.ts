/**
 * Matches a leaked token to the credentials it belongs to, without keeping a password, or a plain
 * hash of one, anywhere new (issue 5; docs/design.md section 5, last invariant).
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
 * written ahead; previous, because a cluster one step behind still accepts it (docs/design.md section 5).
 *
 * What it costs: a version's value never changes in Secrets Manager (a new value is a new version
 * id), so the index keeps each version's fingerprints under its version id and reads a value only
 * for a version id it has not seen. Learning a credential's labels costs one DescribeSecret, or
 * nothing when someone else read them (applyLabels: the fleet's feed of label changes); moving
 * labels between known versions costs no read at all. An idle credential costs nothing.
 *
 * Freshness: applyLabels() when labels are learnt elsewhere (the replica that rotated publishes
 * them); refreshCredential() for one credential; refresh() for all, at startup and on a slow
 * timer (changes made outside the rotator); and a miss first catches up on published changes,
 * then may trigger one rate-limited refresh before answering "no match".
 *
 * Passwords are read, hashed and dropped inside one function call; no reference to a secret value
 * outlives readVersion(). (JavaScript strings cannot be wiped; the guarantee is that nothing
 * keeps one reachable.)
 */
import { createHash, createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { setTimeout as sleepMs } from 'node:timers/promises';
import type { CredentialConfig } from '../config/types.ts';
import { coerceError } from '../errors.ts';
import { parseCredentialSecret } from '../rotation/secret-value.ts';
import { STAGE, type SecretDescription, type SecretStore, type Stage } from '../secrets/types.ts';

/** The stages indexed, in the order matches are reported (most live first). */
export const INDEXED_STAGES = [STAGE.current, STAGE.pending, STAGE.previous] as const satisfies readonly Stage[];

/** A secret's labelled versions: version id -> staging labels (as DescribeSecret reports them). */
export type Labels = SecretDescription['versions'];

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
  /** Read-only access to Secrets Manager: DescribeSecret for labels, GetSecretValue by version id for values. */
  store: Pick<SecretStore, 'describe' | 'getByVersion'>;
  /** The configured credentials (config `credentials`). */
  credentials: Readonly<Record<string, Pick<CredentialConfig, 'id' | 'secretId'>>>;
  /** Wall clock, epoch ms: the refresh-on-miss rate limit and `lastRefreshAt`. @defaultValue Date.now */
  nowMs?: () => number;
  /**
   * A miss triggers a full refresh at most once per this interval, so a flood of unmatched alerts
   * costs at most one DescribeSecret per credential per interval (plus the values of versions
   * that really are new). @defaultValue 300000
   */
  refreshOnMissIntervalMs?: number;
  /** Credentials loaded at once during refresh(). @defaultValue 8 */
  concurrency?: number;
  /**
   * Secrets Manager calls per second of a paced refresh (`refresh({ paced: true })`: the startup
   * load and the slow timer), so a replica's load never bursts the read quota. @defaultValue 20
   */
  readsPerSecond?: number;
  /** Labels read by DescribeSecret during any refresh: the wiring publishes them to the fleet. */
  onLabels?: (credential: string, labels: Labels) => void;
  /** On a miss, before any refresh: apply the changes other replicas published (Redis only, no AWS call). */
  catchUp?: () => Promise<void>;
  /** Waits `ms` (pacing). @defaultValue node:timers/promises setTimeout */
  sleep?: (ms: number) => Promise<unknown>;
}

export const FINGERPRINT_INDEX_DEFAULTS = {
  refreshOnMissIntervalMs: 300_000,
  concurrency: 8,
  readsPerSecond: 20,
} as const satisfies Required<Pick<FingerprintIndexOptions, 'refreshOnMissIntervalMs' | 'concurrency' | 'readsPerSecond'>>;

/** One credential that could not be (re)loaded. Its previous entries are kept (see reload). */
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
  /** Credentials whose entries were replaced by a fresh view. */
  loaded: number;
  /** Secret values read (GetSecretValue): versions not seen before. */
  valuesRead: number;
  failed: RefreshFailure[];
  unparseable: UnparseableVersion[];
}

export interface RefreshOptions {
  /** Labels already known (the fleet's feed): these credentials need no DescribeSecret. */
  known?: ReadonlyMap<string, Labels>;
  /** Spread the calls at `readsPerSecond` (a miss during the refresh lifts the pacing). */
  paced?: boolean;
}

/** What the index keeps of one version: its two fingerprints, or that its value is not a credential secret. */
type VersionPrint = { fingerprints: [string, string]; username: string } | { unparseable: true };

const SHA256_HEX_PATTERN = /^[0-9a-fA-F]{64}$/;

function emptyReport(credentials = 0): RefreshReport {
  return { credentials, loaded: 0, valuesRead: 0, failed: [], unparseable: [] };
}

/** Spaces calls `1000 / perSecond` ms apart; release() lets every waiter, present and future, through at once. */
class Pacer {
  private nextAtMs = 0;
  private readonly gapMs: number;
  private readonly sleep: (ms: number) => Promise<unknown>;
  private readonly released: Promise<void>;
  private wake: () => void = () => {};
  private isReleased = false;

  constructor(perSecond: number, sleep: (ms: number) => Promise<unknown>) {
    this.gapMs = 1000 / perSecond;
    this.sleep = sleep;
    this.released = new Promise<void>((resolve) => {
      this.wake = resolve;
    });
  }

  async turn(): Promise<void> {
    if (this.isReleased) return;
    const now = performance.now();
    const at = Math.max(now, this.nextAtMs);
    this.nextAtMs = at + this.gapMs;
    if (at > now) await Promise.race([this.sleep(at - now), this.released]);
  }

  release(): void {
    this.isReleased = true;
    this.wake();
  }
}

export class FingerprintIndex {
  /** K. A KeyObject, so util.inspect and JSON.stringify show no key bytes. */
  private readonly key: KeyObject;
  private readonly store: Pick<SecretStore, 'describe' | 'getByVersion'>;
  private readonly credentials: Readonly<Record<string, Pick<CredentialConfig, 'id' | 'secretId'>>>;
  private readonly nowMs: () => number;
  private readonly refreshOnMissIntervalMs: number;
  private readonly concurrency: number;
  private readonly readsPerSecond: number;
  private readonly onLabels: FingerprintIndexOptions['onLabels'];
  private readonly catchUp: FingerprintIndexOptions['catchUp'];
  private readonly sleep: (ms: number) => Promise<unknown>;

  /** Fingerprint -> the versions holding a value with that fingerprint. */
  private readonly byFingerprint = new Map<string, FingerprintMatch[]>();
  /** Credential id -> the fingerprints it contributed, so a reload replaces exactly its own. */
  private readonly byCredential = new Map<string, Map<string, FingerprintMatch[]>>();
  /** Credential id -> version id -> what its (immutable) value gave: a value is read once per version. */
  private readonly prints = new Map<string, Map<string, VersionPrint>>();
  /**
   * Views are numbered when they start (before their DescribeSecret); a view commits only if no
   * later-started view of the same credential has committed. Without this a slow full refresh that
   * described a credential before its rotation could overwrite what a later change brought.
   */
  private viewsStarted = 0;
  private readonly committedView = new Map<string, number>();
  private refreshInFlight: { promise: Promise<RefreshReport>; pacer: Pacer | null } | null = null;
  private lastMissRefreshAtMs: number | null = null;
  private lastRefreshAtMs: number | null = null;

  constructor(options: FingerprintIndexOptions) {
    const refreshOnMissIntervalMs = options.refreshOnMissIntervalMs ?? FINGERPRINT_INDEX_DEFAULTS.refreshOnMissIntervalMs;
    const concurrency = options.concurrency ?? FINGERPRINT_INDEX_DEFAULTS.concurrency;
    const readsPerSecond = options.readsPerSecond ?? FINGERPRINT_INDEX_DEFAULTS.readsPerSecond;
    if (!(refreshOnMissIntervalMs >= 0)) throw new RangeError('refreshOnMissIntervalMs must be >= 0');
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError('concurrency must be an integer >= 1');
    if (!(readsPerSecond > 0)) throw new RangeError('readsPerSecond must be > 0');
    const keyBytes = randomBytes(32);
    this.key = createSecretKey(keyBytes);
    keyBytes.fill(0);
    this.store = options.store;
    this.credentials = options.credentials;
    this.nowMs = options.nowMs ?? Date.now;
    this.refreshOnMissIntervalMs = refreshOnMissIntervalMs;
    this.concurrency = concurrency;
    this.readsPerSecond = readsPerSecond;
    this.onLabels = options.onLabels;
    this.catchUp = options.catchUp;
    this.sleep = options.sleep ?? sleepMs;
  }

  /** Fingerprints held (two per indexed version and stage). For readiness and a gauge. */
  size(): number {
    return this.byFingerprint.size;
  }

  /** When the last full refresh finished (failures included), or null before the first. */
  get lastRefreshAt(): Date | null {
    return this.lastRefreshAtMs === null ? null : new Date(this.lastRefreshAtMs);
  }

  /**
   * Brings every configured credential up to date (one DescribeSecret each, none for those in
   * `known`; a value only for versions not seen before), `concurrency` at a time, and drops
   * entries of credentials no longer configured. A credential that fails is reported and keeps
   * its previous entries; it never fails the whole refresh. Calls made while a refresh runs share it.
   */
  refresh(options: RefreshOptions = {}): Promise<RefreshReport> {
    if (this.refreshInFlight === null) {
      const pacer = options.paced ? new Pacer(this.readsPerSecond, this.sleep) : null;
      const promise = this.refreshAll(options.known ?? new Map(), pacer).finally(() => {
        this.refreshInFlight = null;
      });
      this.refreshInFlight = { promise, pacer };
    }
    return this.refreshInFlight.promise;
  }

  /** Re-reads one credential's labels (one DescribeSecret) and the values of its new versions. An id that is not configured loses its entries. */
  async refreshCredential(id: string): Promise<RefreshReport> {
    const credential = Object.hasOwn(this.credentials, id) ? this.credentials[id] : undefined;
    if (credential === undefined) {
      this.forget(id);
      return emptyReport();
    }
    const report = emptyReport(1);
    await this.reload(credential, undefined, report, null);
    return report;
  }

  /** Takes labels learnt elsewhere (the fleet's feed): reads only the values of versions it has not seen. */
  async applyLabels(id: string, labels: Labels): Promise<RefreshReport> {
    const credential = Object.hasOwn(this.credentials, id) ? this.credentials[id] : undefined;
    if (credential === undefined) return emptyReport();
    const report = emptyReport(1);
    await this.reload(credential, labels, report, null);
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
    if (this.catchUp !== undefined) {
      await this.catchUp().catch(() => {});
      const caughtUp = this.lookUp(sha256Hexes);
      if (caughtUp.length > 0) return caughtUp;
    }
    if (!(await this.refreshOnMiss())) return found;
    return this.lookUp(sha256Hexes);
  }

  /**
   * Whether a refresh ran for this miss. A refresh already running is awaited (it may hold the
   * answer and costs nothing extra; a paced one stops pacing); otherwise one starts if the last
   * miss-triggered refresh is at least `refreshOnMissIntervalMs` old. The rate limit is what keeps
   * unmatched alerts from turning into a read storm on Secrets Manager.
   */
  private async refreshOnMiss(): Promise<boolean> {
    if (this.refreshInFlight !== null) {
      this.refreshInFlight.pacer?.release();
      await this.refreshInFlight.promise;
      return true;
    }
    const now = this.nowMs();
    if (this.lastMissRefreshAtMs !== null && now - this.lastMissRefreshAtMs < this.refreshOnMissIntervalMs) return false;
    this.lastMissRefreshAtMs = now;
    await this.refresh();
    return true;
  }

  /**
   * One match per version, under its most live label: after a rotation AWSPENDING stays on the
   * promoted version beside AWSCURRENT, and that is one version holding the password, not two.
   */
  private lookUp(sha256Hexes: readonly string[]): FingerprintMatch[] {
    const all: FingerprintMatch[] = [];
    for (const hex of sha256Hexes) all.push(...(this.byFingerprint.get(this.fingerprint(hex)) ?? []));
    all.sort((a, b) => INDEXED_STAGES.indexOf(a.stage) - INDEXED_STAGES.indexOf(b.stage) || a.credential.localeCompare(b.credential));
    const found = new Map<string, FingerprintMatch>();
    for (const match of all) {
      const key = `${match.credential}\n${match.versionId}`;
      if (!found.has(key)) found.set(key, { ...match });
    }
    return [...found.values()];
  }

  /** HMAC(K, sha256 hex), base64url: the only form in which a password's trace is kept. */
  private fingerprint(sha256HexLower: string): string {
    return createHmac('sha256', this.key).update(sha256HexLower).digest('base64url');
  }

  private async refreshAll(known: ReadonlyMap<string, Labels>, pacer: Pacer | null): Promise<RefreshReport> {
    const credentials = Object.values(this.credentials);
    const report = emptyReport(credentials.length);
    for (const id of [...this.prints.keys()]) {
      if (!Object.hasOwn(this.credentials, id)) this.forget(id);
    }
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < credentials.length) {
        const credential = credentials[next++];
        if (credential !== undefined) await this.reload(credential, known.get(credential.id), report, pacer);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, credentials.length) }, worker));
    this.lastRefreshAtMs = this.nowMs();
    return report;
  }

  /**
   * One credential from one complete view: its labels (given, or one DescribeSecret), then the
   * value of every labelled version not seen before (GetSecretValue by version id). All reads must
   * succeed, so a credential is replaced from one complete view or not at all; a failure keeps the
   * old entries (a password under a label a moment ago may still be live, and a read error says
   * nothing about the values). Commits unless a later-started view already did.
   */
  private async reload(credential: Pick<CredentialConfig, 'id' | 'secretId'>, given: Labels | undefined, report: RefreshReport, pacer: Pacer | null): Promise<void> {
    const ticket = ++this.viewsStarted;
    const known = this.prints.get(credential.id) ?? new Map<string, VersionPrint>();
    const fresh = new Map<string, VersionPrint>();
    let labels: Labels;
    try {
      if (given === undefined) {
        await pacer?.turn();
        labels = (await this.store.describe(credential.secretId)).versions;
        this.onLabels?.(credential.id, labels);
      } else {
        labels = given;
      }
      const wanted = Object.entries(labels).filter(([, stages]) => stages.some(isIndexedStage));
      await Promise.all(
        wanted.map(async ([versionId]) => {
          const seen = known.get(versionId);
          if (seen !== undefined) {
            fresh.set(versionId, seen);
            return;
          }
          await pacer?.turn();
          const print = await this.readVersion(credential.secretId, versionId);
          report.valuesRead++;
          if (print !== null) fresh.set(versionId, print);
        }),
      );
    } catch (error) {
      report.failed.push({ credential: credential.id, error: coerceError(error) });
      return;
    }
    const entries = new Map<string, FingerprintMatch[]>();
    for (const [versionId, stages] of Object.entries(labels)) {
      const print = fresh.get(versionId);
      if (print === undefined) continue;
      for (const stage of stages.filter(isIndexedStage)) {
        if ('unparseable' in print) {
          report.unparseable.push({ credential: credential.id, stage, versionId });
          continue;
        }
        for (const fingerprint of print.fingerprints) {
          entries.set(fingerprint, [...(entries.get(fingerprint) ?? []), { credential: credential.id, stage, versionId, username: print.username }]);
        }
      }
    }
    if (ticket < (this.committedView.get(credential.id) ?? 0)) return;
    this.committedView.set(credential.id, ticket);
    this.prints.set(credential.id, fresh);
    this.replaceEntries(credential.id, entries);
    report.loaded++;
  }

  /**
   * Reads one version's value and returns its fingerprints. This is the only function that sees
   * a password; none leaves it. Null when the version no longer exists.
   */
  private async readVersion(secretId: string, versionId: string): Promise<VersionPrint | null> {
    const version = await this.store.getByVersion(secretId, versionId);
    if (version === null) return null;
    const secret = parseCredentialSecret(version.value);
    if (secret === null) return { unparseable: true };
    return { fingerprints: [this.fingerprint(sha256Hex(secret.password)), this.fingerprint(sha256Hex(`${secret.username}:${secret.password}`))], username: secret.username };
  }

  private forget(credentialId: string): void {
    this.prints.delete(credentialId);
    this.replaceEntries(credentialId, new Map());
  }

  private replaceEntries(credentialId: string, entries: Map<string, FingerprintMatch[]>): void {
    for (const fingerprint of this.byCredential.get(credentialId)?.keys() ?? []) {
      const remaining = (this.byFingerprint.get(fingerprint) ?? []).filter((match) => match.credential !== credentialId);
      if (remaining.length === 0) this.byFingerprint.delete(fingerprint);
      else this.byFingerprint.set(fingerprint, remaining);
    }
    if (entries.size === 0) {
      this.byCredential.delete(credentialId);
      return;
    }
    for (const [fingerprint, matches] of entries) {
      this.byFingerprint.set(fingerprint, [...(this.byFingerprint.get(fingerprint) ?? []), ...matches]);
    }
    this.byCredential.set(credentialId, entries);
  }
}

function isIndexedStage(stage: string): stage is Stage {
  return (INDEXED_STAGES as readonly string[]).includes(stage);
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
