import type { FingerprintIndex } from '../alerts/fingerprint-index.ts';
import type { GithubKeys } from '../alerts/github-partner.ts';
import type { ReplayGuard } from '../alerts/replay-guard.ts';
import type { Config } from '../config/types.ts';
import type { Notifier } from '../notifications/notifier.ts';
import type { Logger } from '../observability/logger.ts';
import type { RotatorMetrics } from '../observability/metrics.ts';
import type { Enqueued, EnqueueRequest } from '../queue/rotation-queue.ts';
import type { RotationStatusReader } from './rotation-status.ts';
import type { ReadinessReason } from './schemas.ts';

/** Reason codes of `/readyz` that come from the process behind the app (not from its own checks). */
export type ProcessNotReadyReason = Extract<ReadinessReason, 'schedules_not_synced' | 'shutting_down'>;

/**
 * What the HTTP app needs, each a narrow seam: the worker process passes the real queue, Redis
 * guard and index (src/http/server.ts); unit tests pass a recording enqueue, the memory guard and
 * an index over a fake store.
 */
export interface AppDeps {
  config: Pick<Config, 'credentials' | 'http' | 'leakAlerts' | 'rotation'>;
  /** Request lines, refusals and failures; never a body, a header value or a token. */
  logger: Logger;
  metrics: RotatorMetrics;
  /** Redis answers (readiness). A hung answer counts as not ready after a short bound. */
  redisReady: () => Promise<boolean>;
  /**
   * Whether the config is loaded and valid (readiness). The app is only built from a loaded config,
   * so the default says yes; a process that reloads its config can say no while a reload failed.
   * @defaultValue () => true
   */
  configLoaded?: () => boolean;
  /**
   * What else keeps the process from being ready, as reason codes (readiness): the worker says
   * `schedules_not_synced` until its first schedule sync succeeded and `shutting_down` from the
   * first SIGTERM on. @defaultValue () => []
   */
  notReady?: () => readonly ProcessNotReadyReason[];
  /** Queues one rotation (RotationQueue.enqueue). */
  enqueue: (request: EnqueueRequest) => Promise<Enqueued>;
  /** One rotation job as the API shows it (createRotationStatusReader). */
  rotationStatus: RotationStatusReader;
  /** Refuses a second delivery of the same signed alert (RedisReplayGuard in the worker). */
  replayGuard: ReplayGuard;
  /** Matches leaked tokens to credentials. */
  fingerprints: Pick<FingerprintIndex, 'match' | 'matchToken'>;
  /** GitHub's verification keys; null when not configured or unusable: the GitHub route answers 503. */
  githubKeys: GithubKeys | null;
  /** Told of verified alerts that matched nothing (`alert_unmatched`). */
  notifier?: Pick<Notifier, 'notify'>;
  /** The keys as of now, when they are reloaded while serving (the keys file watcher); else `githubKeys`. */
  currentGithubKeys?: () => GithubKeys | null;
  /** Wall clock, epoch ms: alert receipt times and the signature's timestamp window. @defaultValue Date.now */
  nowMs?: () => number;
  /** The id of an alert that carries none. @defaultValue `alert-<uuid>` */
  newAlertId?: () => string;
}
