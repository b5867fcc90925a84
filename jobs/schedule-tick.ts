import { UnrecoverableError, type Job } from 'bullmq';
import type { Config } from '../src/config/types.ts';
import type { RotatorMetrics } from '../src/observability/metrics.ts';
import { scheduleTickDataSchema } from '../src/queue/job-data.ts';
import type { Enqueued, RotationQueue } from '../src/queue/rotation-queue.ts';
import { CooldownError } from '../src/queue/rotation-cooldown.ts';
import { MODE } from '../src/rotation/types.ts';

/**
 * The `schedule-tick` job: a job scheduler's light tick, which enqueues the credential's
 * scheduled rotation (with deduplication, which schedulers themselves cannot carry).
 */
export async function processScheduleTick(job: Job, deps: { config: Config; rotations: RotationQueue; metrics: RotatorMetrics }): Promise<Enqueued | { skipped: string }> {
  const parsed = scheduleTickDataSchema.safeParse(job.data);
  if (!parsed.success) throw new UnrecoverableError(`job ${job.id} has invalid data`);
  const { credentialId } = parsed.data;
  if (!Object.hasOwn(deps.config.credentials, credentialId)) return { skipped: `credential "${credentialId}" is no longer configured` };
  deps.metrics.scheduleTicks.inc({ credential: credentialId });
  try {
    return await deps.rotations.enqueue({ credentialId, mode: MODE.scheduled, requestedBy: 'schedule' });
  } catch (error) {
    // Rotated recently (by hand or a leak): this run is not needed; the next one comes on schedule.
    if (error instanceof CooldownError) return { skipped: error.message };
    throw error;
  }
}
