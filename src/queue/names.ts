import type { Mode } from '../rotation/types.ts';

/**
 * Two queues under one hash-tagged prefix (one Redis Cluster slot). docs/design.md section 6 says one
 * queue; control jobs (schedule ticks, reconcile) are kept apart so that 2,000 ticks at 03:00
 * never sit between a leak rotation and a worker slot, and so that the rotations queue's depth
 * means rotations.
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

/**
 * The share of the write quota the rotator's steady pace uses; the rest absorbs a leak
 * rotation's few writes ahead of the pace (WriteGate) and rounding.
 */
export const WRITE_QUOTA_SHARE = 0.96;
