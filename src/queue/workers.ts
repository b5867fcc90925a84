import { Queue, Worker, type Job } from 'bullmq';
import type { RedisClient } from './redis-client.ts';
import type { Logger } from 'pino';
import type { Config } from '../config/types.ts';
import type { RotatorMetrics } from '../observability/metrics.ts';
import { QUEUE } from './names.ts';

export type Processor = (job: Job, token?: string, signal?: AbortSignal) => Promise<unknown>;

export interface QueueWorkers {
  rotations: Worker;
  control: Worker;
  /** Stops taking jobs, lets active ones finish within `timeoutMs`, then gives up on them (they stall and resume elsewhere). */
  close: (timeoutMs: number) => Promise<{ drained: boolean }>;
}

/**
 * Starts the BullMQ workers: rotations (`worker.concurrency` at once; their Secrets Manager
 * writes are paced by the shared WriteGate, not by BullMQ's job limiter, so that a leak job is
 * never stuck behind a rate window) and control (schedule ticks, reconcile). A stalled job (its worker died) is handed to another worker after
 * `lockDurationMs`; that is safe because every rotation is fenced and resumes by rotation id.
 */
export function startQueueWorkers(options: {
  config: Config;
  connection: RedisClient;
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
