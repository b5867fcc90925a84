import { randomUUID } from 'node:crypto';
import { Job, Queue } from 'bullmq';
import type { RedisClient } from './redis-client.ts';
import type { PendingOwner } from '../rotation/strategy.ts';
import { MODE, type Mode } from '../rotation/types.ts';
import { CredentialStateStore } from './credential-state.ts';
import type { RotateJobData } from './job-data.ts';
import { LeakFlags, type LeakAnswerRecord, type LeakNotice } from './leak-flags.ts';
import { JOB, PRIORITY, QUEUE } from './names.ts';
import { RotationCooldown } from './rotation-cooldown.ts';
import { awaitReplication } from './replication.ts';

/** Finished jobs are kept this long / this many, then trimmed (BullMQ keeps them forever otherwise). */
export const JOB_RETENTION = {
  removeOnComplete: { age: 7 * 24 * 3600, count: 1000 },
  removeOnFail: { age: 30 * 24 * 3600, count: 5000 },
} as const;

/** Retries of a rotation job that threw (a lost lease, Redis gone mid-run): the same rotation id resumes. */
export const ROTATE_ATTEMPTS = { attempts: 8, backoff: { type: 'exponential', delay: 1_000, jitter: 0.5 } } as const;

export interface EnqueueRequest {
  credentialId: string;
  mode: Mode;
  requestedBy: string;
  /** For leak rotations: the alert that asked. */
  alert?: LeakNotice;
  /** Resumes a stale pending version (reconcile): writes no new version, so the minimum interval does not apply. */
  resume?: true;
  /** For leak rotations whose alert named a password: the version found holding it (fingerprint index). */
  leakedVersion?: { stage: string; versionId: string };
}

export interface Enqueued {
  credentialId: string;
  jobId: string;
  /** True when an existing job (waiting, or queued behind the active one) absorbed this request. */
  deduplicated: boolean;
  mode: Mode;
  /**
   * True when a leak rotation completed less than LEAK_COALESCE_MS ago already answers this alert
   * (it names no password the credential still holds): nothing was queued, `jobId` is that rotation's.
   */
  coalesced?: true;
}

export interface RotationQueueOptions {
  /** `rotation.minIntervalMs`: manual and scheduled requests within it are refused (CooldownError). Without it, none are. */
  minIntervalMs?: number;
  /** @defaultValue Date.now */
  nowMs?: () => number;
}

/** Whether an alert names a password the credential still holds after its last leak rotation. */
function namesHeldPassword(request: EnqueueRequest, answered: LeakAnswerRecord): boolean {
  const leaked = request.leakedVersion;
  if (leaked === undefined) return false;
  return leaked.versionId === answered.versionId || leaked.stage === 'AWSPENDING';
}

/**
 * The producer side of rotations. One waiting job per credential at most, plus one behind an
 * active one (BullMQ deduplication with keepLastIfActive); every job has a priority. A leak
 * request that lands on a job which is only waiting raises it to leak priority and mode.
 */
export class RotationQueue {
  readonly queue: Queue;
  readonly leakFlags: LeakFlags;
  readonly cooldown: RotationCooldown | null;
  private readonly nowMs: () => number;
  private readonly connection: RedisClient;

  constructor(connection: RedisClient, prefix: string, options: RotationQueueOptions = {}) {
    this.connection = connection;
    this.queue = new Queue(QUEUE.rotations, { connection, prefix, defaultJobOptions: { ...JOB_RETENTION, ...ROTATE_ATTEMPTS } });
    // The queue re-emits its connection's errors, which whoever made the connection logs; without
    // a listener BullMQ prints each one to stderr with its stack.
    this.queue.on('error', () => {});
    this.leakFlags = new LeakFlags(connection, prefix);
    this.nowMs = options.nowMs ?? Date.now;
    this.cooldown = options.minIntervalMs === undefined ? null : new RotationCooldown(new CredentialStateStore(connection, prefix), options.minIntervalMs, this.nowMs);
  }

  /**
   * Queues one rotation. Leak requests are never refused; a leak alert arriving less than
   * LEAK_COALESCE_MS after a completed leak rotation of the credential is answered by it
   * (`coalesced`) unless it names a password the credential still holds. Manual and scheduled requests within
   * `minIntervalMs` of the last completed rotation, or that would queue behind a running one,
   * throw CooldownError (nothing queued).
   */
  async enqueue(request: EnqueueRequest): Promise<Enqueued> {
    const { credentialId } = request;
    // Alerts coalesce; an operator's explicit leak request (`enqueue --mode leak`, no alert) does not.
    if (request.mode === MODE.leak && request.alert !== undefined) {
      const answered = await this.leakFlags.recentAnswer(credentialId, this.nowMs());
      // A rotation already queued or running for the credential answers it instead (dedup below).
      if (answered !== null && !namesHeldPassword(request, answered) && !(await this.hasNewerJob(credentialId, answered.jobId))) {
        return { credentialId, jobId: answered.jobId, deduplicated: true, mode: MODE.leak, coalesced: true };
      }
    }
    // The notice first: whichever job runs next for this credential then runs in leak mode.
    if (request.alert) await this.leakFlags.push(credentialId, request.alert);
    const mode: Mode = request.mode === MODE.leak || (await this.leakFlags.has(credentialId)) ? MODE.leak : request.mode;
    if (mode !== MODE.leak && request.resume !== true && this.cooldown !== null) await this.assertCooldown(credentialId);
    const data: RotateJobData = {
      credentialId,
      reason: mode,
      rotationId: randomUUID(),
      requestedBy: request.requestedBy,
      ...(request.alert ? { alertId: request.alert.alertId } : {}),
      enqueuedAt: Date.now(),
    };
    // The job id is the rotation id. A request absorbed while the credential's job is active is
    // kept by BullMQ and becomes the next job, with this id, when the active one ends (unless a
    // later request replaces it: the latest request's data and id win).
    const added = await this.queue.add(JOB.rotate, data, {
      jobId: data.rotationId,
      priority: PRIORITY[mode],
      deduplication: { id: credentialId, keepLastIfActive: true },
    });
    // A leak alert is answered 202 once this returns, and its sender will not send it again: the
    // notice and the job must survive a failover (when Redis has replicas to fail over to).
    if (request.alert) await awaitReplication(this.connection);
    if (added.id === data.rotationId) return { credentialId, jobId: data.rotationId, deduplicated: false, mode };
    const existing = await Job.fromId<RotateJobData>(this.queue, added.id ?? '');
    if (!existing) return { credentialId, jobId: data.rotationId, deduplicated: true, mode };
    const state = await existing.getState();
    if (state === 'active') return { credentialId, jobId: data.rotationId, deduplicated: true, mode };
    if (state === 'completed' || state === 'failed') {
      // It ended since the add. Active then, it left this request as the next job: under this id,
      // unless a later request replaced it (that one holds the key while it waits or runs).
      // Waiting then, it ran with this request's notice and answered it.
      if (await Job.fromId(this.queue, data.rotationId)) return { credentialId, jobId: data.rotationId, deduplicated: true, mode };
      const next = await this.queue.getDeduplicationJobId(credentialId);
      return { credentialId, jobId: next ?? existing.id ?? data.rotationId, deduplicated: true, mode };
    }
    await this.escalate(existing, state, mode, data);
    return { credentialId, jobId: existing.id ?? data.rotationId, deduplicated: true, mode };
  }

  /** Whether a job of this credential other than `answeredJobId` holds its deduplication key (one waiting or running). */
  private async hasNewerJob(credentialId: string, answeredJobId: string): Promise<boolean> {
    const queuedId = await this.queue.getDeduplicationJobId(credentialId);
    return queuedId !== null && queuedId !== answeredJobId;
  }

  /** Refuses a manual or scheduled request within the interval, or one that would run right after an active rotation. */
  private async assertCooldown(credentialId: string): Promise<void> {
    if (this.cooldown === null) return;
    await this.cooldown.assertAllowed(credentialId);
    const queuedId = await this.queue.getDeduplicationJobId(credentialId);
    if (queuedId === null) return;
    // A waiting job absorbs this request (no extra rotation); an active one would get a second behind it.
    if ((await this.queue.getJobState(queuedId)) === 'active') throw this.cooldown.behindActive(credentialId);
  }

  /** Raises a waiting job to this request's priority and mode when they are higher. */
  private async escalate(job: Job<RotateJobData>, state: string, mode: Mode, data: RotateJobData): Promise<void> {
    if (PRIORITY[mode] >= (job.priority || Number.MAX_SAFE_INTEGER)) return;
    if (state !== 'waiting' && state !== 'prioritized' && state !== 'delayed') return;
    try {
      await job.changePriority({ priority: PRIORITY[mode] });
      await job.updateData({ ...job.data, reason: mode, ...(data.alertId ? { alertId: data.alertId } : {}) });
    } catch {
      // It started meanwhile: the leak notice makes it (or the job queued behind it) run in leak mode.
    }
  }

  /**
   * Whether the rotation with this id (= its job id) may still run: `ended` when its job completed
   * or failed for good, `running` when it is waiting, delayed or active, `unknown` when the queue
   * has no such job (a CLI run, or a job trimmed by retention).
   */
  async rotationOwner(rotationId: string): Promise<PendingOwner> {
    const job = await Job.fromId<RotateJobData>(this.queue, rotationId);
    if (!job) return 'unknown';
    const state = await job.getState();
    if (state === 'completed' || state === 'failed') return 'ended';
    return state === 'unknown' ? 'unknown' : 'running';
  }

  /**
   * Whether any rotation will still act on the credential's pending version `versionId`:
   * `running` when the rotation that wrote it may still run (rotationOwner), or when it ended and
   * another rotation job of the credential is waiting, delayed or active (it adopts the version:
   * reconcile queues such a resume); `ended` when it ended and none is queued; `unknown` when the
   * queue has no job of that id (a CLI run, or a job trimmed by retention). `verify` asks this.
   */
  async pendingVersionOwner(credentialId: string, versionId: string): Promise<PendingOwner> {
    const owner = await this.rotationOwner(versionId);
    if (owner !== 'ended') return owner;
    const queuedId = await this.queue.getDeduplicationJobId(credentialId);
    if (queuedId === null || queuedId === versionId) return 'ended';
    const state = await this.queue.getJobState(queuedId);
    return state === 'completed' || state === 'failed' || state === 'unknown' ? 'ended' : 'running';
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
