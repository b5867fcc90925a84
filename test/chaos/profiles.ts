/**
 * The two forms of the chaos soak. `short` runs in CI (`npm test`, through
 * test/chaos/soak.chaos.test.ts, and `npm run test:chaos`); `long` is run by hand
 * (`npm run test:chaos:long`) and its figures go to docs/reliability.md.
 */
import type { ChaosFaults } from './sandbox.ts';

export interface Profile {
  name: string;
  /** How long faults, kills, alerts and triggers run. */
  chaosMs: number;
  credentials: number;
  /** Each credential's cron fires every this many seconds (offsets spread across the period). */
  schedulePeriodS: number;
  workers: number;
  concurrency: number;
  /** A random worker is SIGKILLed every [min, max] ms, and restarted after [min, max] ms down. */
  killEveryMs: [number, number];
  downMs: [number, number];
  /** When Redis is restarted, as a fraction of the chaos phase, and how long it stays down. */
  redisRestartAt: number;
  redisDownMs: number;
  /**
   * Redis failovers with write loss: at each fraction of the chaos phase the data is remembered,
   * and `windowMs` later Redis is SIGKILLed and comes back with that data, forgetting every write
   * it acknowledged in between (as a promoted replica that far behind would).
   */
  redisWriteLoss: { at: number[]; windowMs: number };
  alertEveryMs: [number, number];
  triggerEveryMs: [number, number];
  /** Each worker's /metrics is scraped this often (and a few job statuses read). */
  scrapeEveryMs: number;
  /** How long the drain may take before stale pending versions are settled with `recover`. */
  drainTimeoutMs: number;
  /** The whole run, setup to report: past it the harness stops everything and fails. */
  hardDeadlineMs: number;
  /** The run proves little below these: it fails if fewer happened. */
  minimum: { rotated: number; kills: number; alertsAccepted: number; triggersAccepted: number };
  faults: ChaosFaults;
  /** Fixed latency of every request to a simulator or the emulator (the jitter comes on top). */
  latencyMs: number;
  /** Share of kills aimed at a moment when the victim has a rotation step under way (else: any moment). */
  aimedKillShare: number;
  worker: { lockDurationMs: number; stalledIntervalMs: number; credentialLockTtlMs: number; shutdownTimeoutMs: number; reconcileIntervalMs: number; driftCheckIntervalMs: number; labelCheckIntervalMs: number; drainDelayMs: number; scheduleCheckIntervalMs: number };
  pendingLeaseMs: number;
  /**
   * graceMs of the alternating credentials (half of them): shorter than the schedule period, so
   * most scheduled rotations pass it, and triggers or schedules soon after a promotion (a leak's,
   * say) are refused with grace_not_elapsed, which is expected.
   */
  graceMs: number;
}

/** Issue 7: Milvus 5% 5xx, 3% ambiguous (applied then lost), latency jitter; Secrets Manager 2% throttling. */
const FAULTS: ChaosFaults = {
  milvus: { rate5xx: 0.05, rateAmbiguous: 0.03, latencyJitterMs: 40 },
  secrets: { rateThrottle: 0.02, latencyJitterMs: 15 },
};

/**
 * Short locks so that a killed worker's rotations resume within seconds; reconcile, and its drift and label
 * checks, as often as the config allows. No drain delay (workers are stopped by the soak, not by a load balancer). The
 * schedule check as rare as the config allows: the drain turns every schedule off with
 * `schedules sync` while the workers, whose config keeps them on, still run, and a periodic check
 * would put them back (the workers' config is the truth). The check after a reconnect stays.
 */
const WORKER = { lockDurationMs: 4_000, stalledIntervalMs: 2_000, credentialLockTtlMs: 4_000, shutdownTimeoutMs: 8_000, reconcileIntervalMs: 10_000, driftCheckIntervalMs: 60_000, labelCheckIntervalMs: 60_000, drainDelayMs: 0, scheduleCheckIntervalMs: 86_400_000 };

export const PROFILES: Record<string, Profile> = {
  short: {
    name: 'short',
    chaosMs: 75_000,
    credentials: 12,
    schedulePeriodS: 5,
    workers: 2,
    concurrency: 4,
    killEveryMs: [4_000, 8_000],
    downMs: [300, 1_500],
    redisRestartAt: 0.5,
    redisDownMs: 2_000,
    redisWriteLoss: { at: [0.75], windowMs: 1_500 },
    alertEveryMs: [1_500, 3_500],
    triggerEveryMs: [1_000, 2_500],
    scrapeEveryMs: 6_000,
    drainTimeoutMs: 120_000,
    hardDeadlineMs: 6 * 60_000,
    minimum: { rotated: 80, kills: 5, alertsAccepted: 5, triggersAccepted: 5 },
    faults: FAULTS,
    latencyMs: 15,
    aimedKillShare: 0.8,
    worker: WORKER,
    pendingLeaseMs: 6_000,
    graceMs: 3_000,
  },
  long: {
    name: 'long',
    chaosMs: 15 * 60_000,
    credentials: 30,
    schedulePeriodS: 10,
    workers: 2,
    concurrency: 6,
    killEveryMs: [5_000, 12_000],
    downMs: [300, 2_000],
    redisRestartAt: 0.5,
    redisDownMs: 2_000,
    redisWriteLoss: { at: [0.3, 0.8], windowMs: 2_000 },
    alertEveryMs: [2_000, 5_000],
    triggerEveryMs: [1_000, 3_000],
    scrapeEveryMs: 10_000,
    drainTimeoutMs: 180_000,
    hardDeadlineMs: 25 * 60_000,
    minimum: { rotated: 2_000, kills: 50, alertsAccepted: 50, triggersAccepted: 50 },
    faults: FAULTS,
    latencyMs: 15,
    aimedKillShare: 0.8,
    worker: WORKER,
    pendingLeaseMs: 6_000,
    graceMs: 6_000,
  },
};
