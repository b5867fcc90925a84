import type { Logger } from 'pino';
import type { Config, CredentialConfig } from '../src/config/types.ts';
import { nextRun } from '../src/config/schedule.ts';
import { CREDENTIAL_FACT, type CredentialStateStore } from '../src/queue/credential-state.ts';
import type { RotationQueue } from '../src/queue/rotation-queue.ts';
import { CHECK_STATUS, checkCredential, type CredentialCheck } from '../src/rotation/check-credential.ts';
import type { EngineRuntime } from '../src/rotation/create-engine.ts';
import { statusOf } from '../src/rotation/credential-status.ts';
import { MODE } from '../src/rotation/types.ts';

export interface ReconcileReport {
  checked: number;
  resumed: string[];
  drift: string[];
  unreachable: string[];
  errors: string[];
}

/** Credentials checked at once. */
const PARALLEL = 8;
/** Slack on top of two schedule periods before a credential counts as overdue. */
const MAX_AGE_SLACK_MS = 3_600_000;

/**
 * The `reconcile` job: for every credential, refresh the age gauges, then check it. A stale
 * pending version (an interrupted rotation whose owner is gone) is resumed by enqueueing a
 * rotation, which adopts it; drift (AWSCURRENT rejected somewhere) and invalid secrets are
 * reported (needs-attention gauge, error log): a human decides, as with needs_attention.
 */
export async function processReconcile(deps: {
  config: Config;
  runtime: EngineRuntime;
  rotations: RotationQueue;
  credentialState: CredentialStateStore;
  logger: Logger;
  now?: () => number;
}): Promise<ReconcileReport> {
  const now = deps.now ?? Date.now;
  await deps.credentialState.retain(Object.keys(deps.config.credentials));
  const report: ReconcileReport = { checked: 0, resumed: [], drift: [], unreachable: [], errors: [] };
  const queue = [...Object.values(deps.config.credentials)];
  await Promise.all(
    Array.from({ length: Math.min(PARALLEL, queue.length) }, async () => {
      for (let credential = queue.shift(); credential; credential = queue.shift()) {
        try {
          await reconcileOne(credential, deps, now(), report);
        } catch (err) {
          report.errors.push(credential.id);
          deps.logger.error({ credential: credential.id, step: 'reconcile', err }, 'reconcile failed for a credential');
        }
      }
    }),
  );
  deps.logger.info({ step: 'reconcile', ...report }, 'reconcile done');
  return report;
}

async function reconcileOne(credential: CredentialConfig, deps: Parameters<typeof processReconcile>[0], now: number, report: ReconcileReport): Promise<void> {
  const status = await statusOf(deps.runtime.store, credential, now);
  const maxAgeMs = maxAge(credential, now);
  await deps.credentialState.record(credential.id, {
    ...(status.ageMs !== null ? { [CREDENTIAL_FACT.currentSince]: Math.floor((now - status.ageMs) / 1000) } : {}),
    [CREDENTIAL_FACT.pendingSince]: status.pendingAgeMs === null ? 0 : Math.floor((now - status.pendingAgeMs) / 1000),
    ...(maxAgeMs !== null ? { [CREDENTIAL_FACT.maxAgeSeconds]: maxAgeMs / 1000 } : {}),
  });

  const check: CredentialCheck = await checkCredential({ ...deps.runtime, now: () => now, staleAfterMs: deps.runtime.pendingLeaseMs }, credential);
  report.checked++;
  switch (check.status) {
    case CHECK_STATUS.ok:
      await deps.credentialState.record(credential.id, { [CREDENTIAL_FACT.needsAttention]: 0 });
      return;
    case CHECK_STATUS.inProgress:
      // A young pending version whose rotation's job has ended will not be finished by it: resume it now, not after the lease.
      if (check.pendingVersionId && (await deps.rotations.rotationOwner(check.pendingVersionId)) === 'ended') {
        await resume(credential, check, deps, report, 'pending version of an ended rotation: rotation enqueued to resume it');
      }
      return;
    case CHECK_STATUS.stalePending:
      await resume(credential, check, deps, report, 'stale pending version: rotation enqueued to resume it');
      return;
    case CHECK_STATUS.drift:
    case CHECK_STATUS.secretInvalid:
      await deps.credentialState.record(credential.id, { [CREDENTIAL_FACT.needsAttention]: 1 });
      report.drift.push(credential.id);
      deps.logger.error({ credential: credential.id, step: 'reconcile', status: check.status, clusters: check.clusters, error: check.error }, 'credential needs attention');
      return;
    case CHECK_STATUS.unreachable:
    case CHECK_STATUS.secretsManagerError:
      report.unreachable.push(credential.id);
      deps.logger.warn({ credential: credential.id, step: 'reconcile', status: check.status, error: check.error }, 'credential could not be checked');
      return;
    default: {
      const unreachable: never = check.status;
      throw new Error(`unknown status ${String(unreachable)}`);
    }
  }
}

async function resume(credential: CredentialConfig, check: CredentialCheck, deps: Parameters<typeof processReconcile>[0], report: ReconcileReport, message: string): Promise<void> {
  // resume: finishes a pending version (no new one), so rotation.minIntervalMs does not apply.
  await deps.rotations.enqueue({ credentialId: credential.id, mode: MODE.manual, requestedBy: 'reconcile', resume: true });
  report.resumed.push(credential.id);
  deps.logger.warn({ credential: credential.id, step: 'reconcile', pendingVersionId: check.pendingVersionId }, message);
}

/** Two schedule periods plus slack: longer than that since the last rotation means the schedule is not working. */
function maxAge(credential: CredentialConfig, now: number): number | null {
  const first = nextRun(credential.schedule, credential.timezone, new Date(now));
  if (!first) return null;
  const second = nextRun(credential.schedule, credential.timezone, first);
  if (!second) return null;
  return 2 * (second.getTime() - first.getTime()) + MAX_AGE_SLACK_MS;
}
