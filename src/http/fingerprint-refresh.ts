/**
 * Keeps the worker's FingerprintIndex fresh: one full refresh at startup (not awaited by the
 * server: readiness never waits on Secrets Manager, and an alert that arrives first still gets a
 * refresh-on-miss), then one every `intervalMs`. Between refreshes the index refreshes itself on a
 * miss (rate-limited), which is what matches a password rotated a moment ago.
 */
import type { FingerprintIndex, RefreshReport } from '../alerts/fingerprint-index.ts';
import type { Logger } from '../observability/logger.ts';
import { errorFields } from './errors.ts';

/** How often the whole index is reloaded (3 GetSecretValue per credential each time). */
export const FINGERPRINT_REFRESH_INTERVAL_MS = 60_000;

export interface FingerprintRefresh {
  /** The startup refresh (resolves when it ended, successfully or not; never rejects). */
  initial: Promise<void>;
  stop: () => void;
}

export function startFingerprintRefresh(
  index: Pick<FingerprintIndex, 'refresh'>,
  options: { logger: Logger; intervalMs?: number },
): FingerprintRefresh {
  const logger = options.logger.child({ component: 'fingerprint-index' });
  const run = async (): Promise<void> => {
    const began = Date.now();
    let report: RefreshReport;
    try {
      report = await index.refresh();
    } catch (error) {
      logger.error({ err: errorFields(error) }, 'fingerprint index refresh failed');
      return;
    }
    const fields = {
      credentials: report.credentials,
      loaded: report.loaded,
      failed: report.failed.map((f) => ({ credential: f.credential, error: f.error.message })),
      unparseable: report.unparseable.map((u) => ({ credential: u.credential, stage: u.stage, versionId: u.versionId })),
      durationMs: Date.now() - began,
    };
    if (report.failed.length > 0 || report.unparseable.length > 0) logger.warn(fields, 'fingerprint index refreshed with problems');
    else logger.debug(fields, 'fingerprint index refreshed');
  };
  const initial = run();
  const timer = setInterval(() => void run(), options.intervalMs ?? FINGERPRINT_REFRESH_INTERVAL_MS);
  timer.unref();
  return { initial, stop: () => clearInterval(timer) };
}
