import { Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config/types.ts';
import type { RotatorMetrics } from '../observability/metrics.ts';
import { QUEUE, WRITE_QUOTA_SHARE, WRITES_PER_ROTATION } from './names.ts';

export type Processor = (job: Job, token?: string, signal?: AbortSignal) => Promise<unknown>;

export interface QueueWorkers {
  rotations: Worker;
  control: Worker;
  /** Stops taking jobs, lets active ones finish within `timeoutMs`, then gives up on them (they stall and resume elsewhere). */
  close: (timeoutMs: number) => Promise<{ drained: boolean }>;
}

/**
 * The minimum spacing of rotation starts across every replica, so that Secrets Manager writes
 * stay within the shared quota: WRITES_PER_ROTATION writes per job, WRITE_QUOTA_SHARE of the
 * quota. With the default 50 writes/s: one rotation per 43 ms, 23 per second. Evenly spaced
 * slots (max 1 per window) also bound how long a leak job waits for a slot to one window.
 */
export function rotationSpacingMs(writesPerSecond: number): number {
  return Math.ceil((1000 * WRITES_PER_ROTATION) / (writesPerSecond * WRITE_QUOTA_SHARE));
}

/**
 * Starts the BullMQ workers: rotations (rate-limited, `worker.concurrency` at once) and control
 * (schedule ticks, reconcile). A stalled job (its worker died) is handed to another worker after
 * `lockDurationMs`; that is safe because every rotation is fenced and resumes by rotation id.
 */
export function startQueueWorkers(options: {
  config: Config;
  connection: Redis;
  processors: { rotate: Processor; control: Processor };
  logger: Logger;
  metrics?: RotatorMetrics;
}): QueueWorkers {
  const { config, connection, logger } = options;
  const common = {
    connection,
    prefix: config.redis.prefix,
    lockDuration: config.worker.lockDurationMs,
    stalledInterval: config.worker.stalledIntervalMs,
    // Resuming a stalled rotation is safe (fencing + rotation id), so allow more than BullMQ's 1.
    maxStalledCount: 5,
  };
  const rotations = new Worker(QUEUE.rotations, options.processors.rotate, {
    ...common,
    concurrency: config.worker.concurrency,
    limiter: { max: 1, duration: rotationSpacingMs(config.aws.writesPerSecond) },
  });
  const control = new Worker(QUEUE.control, options.processors.control, { ...common, concurrency: 2 });
  for (const worker of [rotations, control]) {
    worker.on('failed', (job, err) => logger.warn({ jobId: job?.id, job: job?.name, err: { name: err.name, message: err.message } }, 'job failed'));
    worker.on('error', (err) => logger.error({ err: { name: err.name, message: err.message } }, 'worker error'));
  }
  return {
    rotations,
    control,
    close: async (timeoutMs) => {
      const graceful = Promise.all([rotations.close(), control.close()]).then(() => true);
      const timer = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), timeoutMs).unref());
      const drained = await Promise.race([graceful, timer]);
      if (!drained) {
        logger.warn({ timeoutMs }, 'rotations still running at the shutdown bound: closing anyway; they will resume elsewhere');
        await Promise.all([rotations.close(true), control.close(true)]);
      }
      return { drained };
    },
  };
}

/** Queue depth by state, for the metrics gauge. */
export async function refreshQueueGauge(queues: Queue[], metrics: RotatorMetrics): Promise<void> {
  for (const queue of queues) {
    const counts = await queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed');
    for (const [state, count] of Object.entries(counts)) metrics.queueJobs.set({ queue: queue.name, state }, count);
  }
}
