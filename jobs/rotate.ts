import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { RedisClient } from '../src/queue/redis-client.ts';
import type { Logger } from 'pino';
import { STRATEGY, type Config } from '../src/config/types.ts';
import { leakSourceLabel, type RotatorMetrics } from '../src/observability/metrics.ts';
import { logRotationEvents } from '../src/observability/rotation-log.ts';
import { CredentialLock } from '../src/queue/credential-lock.ts';
import { CREDENTIAL_FACT, alternatingStateOf, type CredentialStateStore } from '../src/queue/credential-state.ts';
import { rotateJobDataSchema } from '../src/queue/job-data.ts';
import { LeakFlags, type LeakNoticeSummary } from '../src/queue/leak-flags.ts';
import type { WriteGate } from '../src/queue/write-gate.ts';
import { notificationsOfResult } from '../src/notifications/notification.ts';
import type { Notifier } from '../src/notifications/notifier.ts';
import type { EngineRuntime } from '../src/rotation/create-engine.ts';
import { isSecretsWrite, type FencePoint } from '../src/rotation/fence-point.ts';
import { finishRetryDelayMs, rotateUntilFinished, stillFinishing } from '../src/rotation/finish-retry.ts';
import type { PendingOwner } from '../src/rotation/strategy.ts';
import { throttledBeforeChange, throttleRetryDelayMs } from '../src/rotation/throttle-retry.ts';
import { MODE, OUTCOME, REASON, STEP, type RotationEvent, type RotationResult } from '../src/rotation/types.ts';

export interface RotateJobDeps {
  config: Config;
  runtime: EngineRuntime;
  redis: RedisClient;
  prefix: string;
  leakFlags: LeakFlags;
  /** Fleet-wide per-credential facts for the gauges. */
  credentialState: CredentialStateStore;
  /** The Secrets Manager write budget shared by every replica. */
  writeGate: WriteGate;
  metrics: RotatorMetrics;
  logger: Logger;
  /** Identifies this worker process in lock tokens. */
  workerId: string;
  /** Told every outcome (delivery is in the background: it never delays or fails the job). */
  notifier?: Notifier;
  /** Whether the rotation (= job) that wrote a foreign pending version may still run (the queue knows). */
  pendingOwner: (versionId: string) => Promise<PendingOwner>;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** The leak alerts a rotation answered, and how long the leaked password stayed valid. */
export interface LeakAnswer {
  /** The last alerts answered (at most RECENT_NOTICES_KEPT); `alertCount` counts them all. */
  alertIds: string[];
  alertCount: number;
  sources: string[];
  firstReceivedAt: number;
  /** When verification saw the old password rejected on every cluster (unix ms), if it did. */
  revokedAt: number | null;
  receiptToRevokedMs: number | null;
}

/** What a rotation job returns (stored by BullMQ in RedisClient): the engine's result, never a secret. */
export type RotateJobResult = RotationResult & { jobId: string; leak?: LeakAnswer };

/** Delay before trying again when another holder has the credential (milliseconds, plus jitter). */
const CONTENDED_DELAY_MS = 1_000;
/** Delay when a foreign, young pending version says another rotation (e.g. a CLI run) is under way. */
const IN_PROGRESS_DELAY_MS = 15_000;
/** An unfinished rotation is run again in this process this many times (about 7.5 s) before the job is put back. */
const FINISH_ATTEMPTS_IN_PROCESS = 4;

/**
 * The `rotate` job: thin. It takes the credential's fencing lock (or delays itself), decides the
 * mode (leak whenever leak notices wait), runs the engine with the lock as its fence, consumes the
 * notices a rotated outcome answered, and records metrics. Expected outcomes complete the job with
 * the result as data; only a lost lock or an infrastructure error throws (BullMQ retries, and the
 * retry resumes the same rotation id). A rotation left unfinished (every cluster ahead of
 * AWSCURRENT: finish_unknown, promote_failed) is run again with the same rotation id, a few times
 * in process, then by putting the job back (delayed, bounded backoff) until it settles. A rotation
 * that Secrets Manager throttled before anything changed (secrets_throttled) is put back the same
 * way, a bounded number of times (throttle-retry.ts). The fence books a slot in the write budget
 * before every Secrets Manager write, retries of a throttled write included (write-retry.ts).
 */
export function createRotateProcessor(deps: RotateJobDeps): (job: Job, token?: string) => Promise<RotateJobResult> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  return async (job, token) => {
    const parsed = rotateJobDataSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`job ${job.id} has invalid data`);
    const data = parsed.data;
    // hasOwn: a credential id such as "constructor" must not find Object.prototype's member.
    const credential = Object.hasOwn(deps.config.credentials, data.credentialId) ? deps.config.credentials[data.credentialId] : undefined;
    if (!credential) throw new UnrecoverableError(`credential "${data.credentialId}" is not in the config (removed?)`);

    const lock = await CredentialLock.acquire(deps.redis, {
      prefix: deps.prefix,
      credentialId: credential.id,
      ttlMs: deps.config.worker.credentialLockTtlMs,
      owner: `${deps.workerId}:${job.id}`,
    });
    if (!lock) {
      deps.metrics.lockContention.inc({ credential: credential.id });
      await job.moveToDelayed(now() + CONTENDED_DELAY_MS + Math.floor(Math.random() * CONTENDED_DELAY_MS), token);
      throw new DelayedError();
    }
    try {
      const notices = await deps.leakFlags.read(credential.id);
      const { count } = notices;
      const leakedUsername = LeakFlags.leakedUsername(notices);
      const mode = count > 0 ? MODE.leak : data.reason;
      const logger = deps.logger.child({ jobId: job.id });
      const log = logRotationEvents(logger);
      let revokedAt: number | null = null;
      const onEvent = (event: RotationEvent): void => {
        log(event);
        if (event.type === 'step-begin') void job.updateProgress({ step: event.step }).catch(() => {});
        if (event.type === 'cluster') void job.updateProgress({ step: STEP.set, cluster: event.cluster, state: event.state }).catch(() => {});
        // The first verification that saw the old password rejected everywhere (a finishing retry verifies again).
        if (event.type === 'step-end' && event.step === STEP.verify && event.ok && mode === MODE.leak) revokedAt ??= now();
      };
      const fence = async (point: FencePoint): Promise<void> => {
        await lock.assertHeld(credential.id);
        if (isSecretsWrite(point)) await deps.writeGate.acquire(mode);
      };
      const engine = deps.runtime.engineFor({ onEvent, fence, pendingOwner: deps.pendingOwner });
      const finishing = data.finishing ?? 0;
      const { result, retries } = await rotateUntilFinished((req) => engine.rotate(req), { credential, mode, rotationId: data.rotationId, ...(mode === 'leak' && leakedUsername !== undefined ? { leakedUsername } : {}) }, {
        attempts: FINISH_ATTEMPTS_IN_PROCESS,
        sleep,
        finishing: finishing > 0,
        firstAttempt: finishing + 1,
      });
      if ((finishing > 0 || retries > 0) && stillFinishing(result)) {
        // Still ahead of AWSCURRENT: put the job back with the same rotation id (lock released meanwhile).
        const attempt = finishing + retries + 1;
        logger.warn({ credential: credential.id, rotationId: data.rotationId, reason: result.reason, attempt }, 'rotation not finished: every cluster is ahead of AWSCURRENT; running it again');
        await job.updateData({ ...data, finishing: attempt });
        await job.moveToDelayed(now() + finishRetryDelayMs(attempt), token);
        throw new DelayedError();
      }

      const throttleDelayMs = throttledBeforeChange(result) ? throttleRetryDelayMs(data.throttled ?? 0) : null;
      if (throttleDelayMs !== null) {
        // Nothing changed: the shared write quota was full. Run it again later with the same rotation id.
        const attempt = (data.throttled ?? 0) + 1;
        logger.warn({ credential: credential.id, rotationId: data.rotationId, reason: result.reason, attempt, delayMs: throttleDelayMs }, 'rotation throttled by Secrets Manager before anything changed; running it again later');
        await job.updateData({ ...data, throttled: attempt });
        await job.moveToDelayed(now() + throttleDelayMs, token);
        throw new DelayedError();
      }

      if (result.reason === REASON.rotationInProgress) {
        await job.moveToDelayed(now() + IN_PROGRESS_DELAY_MS, token);
        throw new DelayedError();
      }
      if (result.outcome === OUTCOME.rotated && count > 0) {
        // The answer lets alerts of the next seconds coalesce into this rotation when they name no
        // password still held. An alternating credential still holds a second one after any leak
        // rotation (AWSPREVIOUS: the other user's, untouched by a one-turn leak, or the first
        // turn's new one), which an alert may name by token or by username: no answer recorded,
        // so such alerts rotate again (deduplicated per credential as always).
        const answer = credential.strategy === STRATEGY.alternating ? undefined : { at: now(), versionId: result.versionId ?? data.rotationId, jobId: String(job.id) };
        await deps.leakFlags.consume(credential.id, notices, answer);
      }
      deps.metrics.observeRotation(result);
      const nowS = Math.floor(now() / 1000);
      // Alternating: which user is AWSCURRENT and when the retired one's grace ends, from the strategy's own view of its promotion.
      const alternating = credential.strategy === STRATEGY.alternating ? alternatingStateOf(credential, result) : null;
      await Promise.all([
        deps.credentialState.record(credential.id, {
          [CREDENTIAL_FACT.needsAttention]: result.outcome === OUTCOME.needsAttention ? 1 : 0,
          ...(result.outcome === OUTCOME.rotated ? { [CREDENTIAL_FACT.currentSince]: nowS, [CREDENTIAL_FACT.pendingSince]: 0, [CREDENTIAL_FACT.lastRotation]: nowS } : {}),
        }),
        alternating ? deps.credentialState.recordAlternating(credential.id, alternating) : null,
      ]).catch((err: Error) => logger.warn({ err: { message: err.message } }, 'could not record the credential state'));
      // Revoked means verified AND promoted: a rotation that verified but could not finish has not answered the leak.
      const leak = count > 0 ? leakAnswer(notices, result.outcome === OUTCOME.rotated ? revokedAt : null) : undefined;
      if (leak?.receiptToRevokedMs != null) {
        for (const source of new Set(leak.sources)) deps.metrics.leakRevocation.observe({ source: leakSourceLabel(source) }, leak.receiptToRevokedMs / 1000);
      }
      for (const notification of notificationsOfResult(result, leak, now())) deps.notifier?.notify(notification);
      return { ...result, jobId: String(job.id), ...(leak ? { leak } : {}) };
    } finally {
      await lock.release();
    }
  };
}

function leakAnswer(notices: LeakNoticeSummary, revokedAt: number | null): LeakAnswer {
  const firstReceivedAt = notices.firstReceivedAt ?? revokedAt ?? Date.now();
  return {
    alertIds: notices.recent.map((n) => n.alertId),
    alertCount: notices.count,
    sources: [...new Set(notices.recent.map((n) => n.source))],
    firstReceivedAt,
    revokedAt,
    receiptToRevokedMs: revokedAt === null ? null : revokedAt - firstReceivedAt,
  };
}
