import { z } from 'zod';
import { MODE } from '../rotation/types.ts';

/**
 * What a rotation job carries: ids and reasons, never a secret (BullMQ stores job data in clear
 * text in Redis and dashboards show it). The rotation id is fixed here, when the job is created,
 * so every retry of the job resumes the same rotation (the same Secrets Manager version).
 */
export const rotateJobDataSchema = z.strictObject({
  credentialId: z.string().min(1),
  /** The mode: scheduled, manual or leak. */
  reason: z.enum([MODE.scheduled, MODE.manual, MODE.leak]),
  rotationId: z.uuid(),
  /** Who asked: `schedule`, `cli`, `http:<token index>`, `alert:<source>`, `reconcile`. */
  requestedBy: z.string().min(1).max(128),
  alertId: z.string().max(128).optional(),
  /** Unix ms when the job was created. */
  enqueuedAt: z.number().int().nonnegative(),
  /** Set when the rotation ended unfinished (every cluster ahead of AWSCURRENT): how many times it was put back to finish. */
  finishing: z.number().int().positive().optional(),
  /** Set when Secrets Manager throttled the rotation before anything changed (secrets_throttled): how many times it was put back. */
  throttled: z.number().int().positive().optional(),
});
export type RotateJobData = z.infer<typeof rotateJobDataSchema>;

export const scheduleTickDataSchema = z.strictObject({ credentialId: z.string().min(1) });
export type ScheduleTickData = z.infer<typeof scheduleTickDataSchema>;
