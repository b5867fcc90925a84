import type { Mode } from '../rotation/types.ts';

/**
 * Two queues under one hash-tagged prefix (one Redis Cluster slot). DESIGN section 6 says one
 * queue; rotations are split from control jobs because BullMQ's rate limiter is per queue, and
 * only rotations write to Secrets Manager: schedule ticks and reconcile runs must not use up the
 * write quota's slots (2,000 ticks at 03:00 would halve the rotation rate).
 */
export const QUEUE = {
  rotations: 'rotations',
  control: 'control',
} as const;

export const JOB = {
  rotate: 'rotate',
  scheduleTick: 'schedule-tick',
  reconcile: 'reconcile',
} as const;

/** 1 is the highest. Every job has one: a job without a priority runs before every prioritized job. */
export const PRIORITY: Readonly<Record<Mode, number>> = {
  leak: 1,
  manual: 5,
  scheduled: 10,
};

/** Scheduler ids: one per credential, and reconcile. */
export const SCHEDULER = {
  credentialPrefix: 'schedule:',
  reconcile: 'reconcile',
} as const;

/**
 * Secrets Manager writes of one rotation: PutSecretValue (AWSPENDING) and one
 * UpdateSecretVersionStage (AWSCURRENT). A failed rotation costs the same (put, then remove
 * AWSPENDING). See RotationEngine.finish for why AWSPENDING is not removed after success.
 */
export const WRITES_PER_ROTATION = 2;

/** The share of the write quota the rotator plans to use, leaving headroom for other writers and retries. */
export const WRITE_QUOTA_SHARE = 0.95;
