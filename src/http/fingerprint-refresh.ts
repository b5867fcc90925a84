/**
 * Keeps a replica's FingerprintIndex fresh at almost no Secrets Manager cost, by following the
 * fleet's feed of version labels (src/queue/secret-versions.ts) instead of reloading on a timer.
 *
 * - Startup: the labels already in the feed's hash need no DescribeSecret; the values of their
 *   versions are read once (2-3 GetSecretValue per credential), paced at
 *   `leakAlerts.fingerprintReadsPerSecond` so a new replica never bursts the read quota. Not
 *   awaited by the server (readiness never waits on Secrets Manager); an alert that misses
 *   during the load lifts the pacing and waits for it.
 * - Every `pollMs` (Redis only): the changes published since, e.g. by the replica that rotated.
 *   Only versions not seen before cost a read (one GetSecretValue per rotation per replica). A
 *   follower that fell behind the stream's length resyncs from the hash.
 * - Every `leakAlerts.fingerprintRefreshMs` (default 6 h): one replica of the fleet (a Redis
 *   lease decides which) re-reads every credential's labels (one DescribeSecret each, paced) and
 *   publishes what changed: how changes made outside the rotator (a human in the console) reach
 *   every replica. A miss refreshes at once too (rate-limited by the index).
 *
 * Cost when idle: one DescribeSecret per credential per `fingerprintRefreshMs` for the whole
 * fleet, whatever the number of replicas.
 */
import { FINGERPRINT_INDEX_DEFAULTS, FingerprintIndex, type RefreshReport } from '../alerts/fingerprint-index.ts';
import { DEFAULTS } from '../config/schema.ts';
import type { Config } from '../config/types.ts';
import type { Logger } from '../observability/logger.ts';
import type { SecretVersionsFeed } from '../queue/secret-versions.ts';
import type { SecretStore } from '../secrets/types.ts';
import { errorFields } from './errors.ts';

/** How often a replica reads the feed's new changes (Redis only). */
export const FINGERPRINT_FEED_POLL_MS = 1_000;
/** How often a replica asks whether the fleet's full refresh is due (Redis only). */
const FULL_REFRESH_CLAIM_MS = 60_000;
const FULL_REFRESH_LEASE = 'fingerprint-refresh';

export interface FingerprintRefresh {
  /** The startup load (resolves when it ended, successfully or not; never rejects). */
  initial: Promise<void>;
  stop: () => void;
}

export interface FleetFingerprintsOptions {
  config: Pick<Config, 'credentials' | 'leakAlerts'>;
  store: Pick<SecretStore, 'describe' | 'getByVersion'>;
  feed: SecretVersionsFeed;
  logger: Logger;
  /** @defaultValue FINGERPRINT_FEED_POLL_MS */
  pollMs?: number;
  /** How often to ask for the full-refresh lease. @defaultValue 60000, or a tenth of the refresh interval when shorter */
  claimEveryMs?: number;
}

/** A replica's fingerprint index, wired to the fleet's feed of version labels. */
export class FleetFingerprints {
  readonly index: FingerprintIndex;
  private readonly feed: SecretVersionsFeed;
  private readonly logger: Logger;
  private readonly fullRefreshMs: number;
  private readonly pollMs: number;
  private readonly claimEveryMs: number;
  /** The last feed entry applied; null until the startup load has read where the feed stands. */
  private lastId: string | null = null;
  private catchingUp: Promise<void> | null = null;

  constructor(options: FleetFingerprintsOptions) {
    const leak = options.config.leakAlerts;
    this.feed = options.feed;
    this.logger = options.logger.child({ component: 'fingerprint-index' });
    this.fullRefreshMs = leak.fingerprintRefreshMs ?? DEFAULTS.leakAlerts.fingerprintRefreshMs;
    this.pollMs = options.pollMs ?? FINGERPRINT_FEED_POLL_MS;
    this.claimEveryMs = options.claimEveryMs ?? Math.min(FULL_REFRESH_CLAIM_MS, this.fullRefreshMs / 10);
    this.index = new FingerprintIndex({
      store: options.store,
      credentials: options.config.credentials,
      refreshOnMissIntervalMs: leak.fingerprintMissRefreshMs ?? FINGERPRINT_INDEX_DEFAULTS.refreshOnMissIntervalMs,
      readsPerSecond: leak.fingerprintReadsPerSecond ?? FINGERPRINT_INDEX_DEFAULTS.readsPerSecond,
      onLabels: (credential, labels) => {
        this.feed.publish(credential, labels).catch((error: unknown) => this.logger.debug({ err: errorFields(error) }, 'could not publish version labels'));
      },
      catchUp: () => this.catchUp(),
    });
  }

  /** Starts the startup load, the feed poll and the fleet's slow full refresh. */
  start(): FingerprintRefresh {
    const initial = (async () => {
      let known = new Map<string, Record<string, string[]>>();
      try {
        this.lastId = await this.feed.lastId();
        known = await this.feed.readAll();
      } catch (error) {
        this.lastId = '0-0';
        this.logger.warn({ err: errorFields(error) }, 'fingerprint index: the feed of version labels could not be read; loading from Secrets Manager');
      }
      await this.run('load', () => this.index.refresh({ known, paced: true }));
      // The fleet's first replica starts the full-refresh clock: a full view was just loaded.
      await this.feed.claim(FULL_REFRESH_LEASE, this.fullRefreshMs).catch(() => false);
    })();
    const poll = setInterval(() => void this.catchUp().catch(() => {}), this.pollMs);
    poll.unref();
    const claim = setInterval(() => void this.fullRefreshIfDue(), this.claimEveryMs);
    claim.unref();
    return {
      initial,
      stop: () => {
        clearInterval(poll);
        clearInterval(claim);
      },
    };
  }

  /** Applies the feed's changes since the last one applied (Redis only; a value is read only for a new version). */
  catchUp(): Promise<void> {
    this.catchingUp ??= this.applyChanges().finally(() => {
      this.catchingUp = null;
    });
    return this.catchingUp;
  }

  private async applyChanges(): Promise<void> {
    if (this.lastId === null) return;
    const { changes, gap } = await this.feed.changesAfter(this.lastId);
    if (gap) {
      const all = await this.feed.readAll();
      for (const [credential, labels] of all) await this.index.applyLabels(credential, labels);
    }
    for (const change of changes) {
      const report = await this.index.applyLabels(change.credential, change.labels);
      if (report.failed.length > 0) {
        // Keep the change for the next poll: the old entries stay meanwhile.
        this.logger.warn({ credential: change.credential, error: report.failed[0]?.error.message }, 'fingerprint index: could not read a changed credential');
        return;
      }
      this.lastId = change.id;
    }
  }

  private async fullRefreshIfDue(): Promise<void> {
    try {
      if (!(await this.feed.claim(FULL_REFRESH_LEASE, this.fullRefreshMs))) return;
    } catch {
      return;
    }
    await this.run('full refresh', () => this.index.refresh({ paced: true }));
  }

  private async run(what: string, refresh: () => Promise<RefreshReport>): Promise<void> {
    const began = Date.now();
    let report: RefreshReport;
    try {
      report = await refresh();
    } catch (error) {
      this.logger.error({ err: errorFields(error) }, `fingerprint index ${what} failed`);
      return;
    }
    const fields = {
      credentials: report.credentials,
      loaded: report.loaded,
      valuesRead: report.valuesRead,
      failed: report.failed.map((f) => ({ credential: f.credential, error: f.error.message })),
      unparseable: report.unparseable.map((u) => ({ credential: u.credential, stage: u.stage, versionId: u.versionId })),
      durationMs: Date.now() - began,
    };
    if (report.failed.length > 0 || report.unparseable.length > 0) this.logger.warn(fields, `fingerprint index ${what} with problems`);
    else this.logger.info(fields, `fingerprint index ${what} done`);
  }
}
