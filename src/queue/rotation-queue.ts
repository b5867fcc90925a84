import { randomUUID } from 'node:crypto';
import { Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Mode } from '../rotation/types.ts';
import type { RotateJobData } from './job-data.ts';
import { LeakFlags, type LeakNotice } from './leak-flags.ts';
import { JOB, PRIORITY, QUEUE } from './names.ts';

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
}

export interface Enqueued {
  credentialId: string;
  jobId: string;
  /** True when an existing job (waiting, or queued behind the active one) absorbed this request. */
  deduplicated: boolean;
  mode: Mode;
}

/**
 * The producer side of rotations. One waiting job per credential at most, plus one behind an
 * active one (BullMQ deduplication with keepLastIfActive); every job has a priority. A leak
 * request that lands on a job which is only waiting raises it to leak priority and mode.
 */
export class RotationQueue {
  readonly queue: Queue;
  readonly leakFlags: LeakFlags;

  constructor(connection: Redis, prefix: string) {
    this.queue = new Queue(QUEUE.rotations, { connection, prefix, defaultJobOptions: { ...JOB_RETENTION, ...ROTATE_ATTEMPTS } });
    this.leakFlags = new LeakFlags(connection, prefix);
  }

  async enqueue(request: EnqueueRequest): Promise<Enqueued> {
    const { credentialId } = request;
    // The notice first: whichever job runs next for this credential then runs in leak mode.
    if (request.alert) await this.leakFlags.push(credentialId, request.alert);
    const mode: Mode = request.mode === 'leak' || (await this.leakFlags.has(credentialId)) ? 'leak' : request.mode;
    const data: RotateJobData = {
      credentialId,
      reason: mode,
      rotationId: randomUUID(),
      requestedBy: request.requestedBy,
      ...(request.alert ? { alertId: request.alert.alertId } : {}),
      enqueuedAt: Date.now(),
    };
    const added = await this.queue.add(JOB.rotate, data, {
      priority: PRIORITY[mode],
      deduplication: { id: credentialId, keepLastIfActive: true },
    });
    const jobId = added.id ?? '';
    const existing = await Job.fromId<RotateJobData>(this.queue, jobId);
    const deduplicated = existing !== undefined && existing.data.rotationId !== data.rotationId;
    if (deduplicated && existing) await this.escalate(existing, mode, data);
    return { credentialId, jobId, deduplicated, mode };
  }

  /** Raises a waiting job to this request's priority and mode when they are higher. */
  private async escalate(job: Job<RotateJobData>, mode: Mode, data: RotateJobData): Promise<void> {
    if (PRIORITY[mode] >= (job.priority || Number.MAX_SAFE_INTEGER)) return;
    const state = await job.getState();
    if (state !== 'waiting' && state !== 'prioritized' && state !== 'delayed') return;
    try {
      await job.changePriority({ priority: PRIORITY[mode] });
      await job.updateData({ ...job.data, reason: mode, ...(data.alertId ? { alertId: data.alertId } : {}) });
    } catch {
      // It started meanwhile: the leak notice makes it (or the job queued behind it) run in leak mode.
    }
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
