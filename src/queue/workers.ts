import { Queue, Worker, type Job } from 'bullmq';
import type { RedisClient } from './redis-client.ts';
import type { Logger } from 'pino';
import type { Config } from '../config/types.ts';
import type { RotatorMetrics } from '../observability/metrics.ts';
import { QUEUE } from './names.ts';
import { describeRedisError } from './redis-connection.ts';
import { settleWithin } from './settle-within.ts';

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
  // Jobs running in this process, counted here: BullMQ's graceful close also waits for its fetch
  // loop, which a Redis outage holds forever, so "the rotations finished" is known from this.
  const runningRotations = new InFlight();
  const runningControl = new InFlight();
  const rotations = new Worker(QUEUE.rotations, runningRotations.wrap(options.processors.rotate), {
    ...common,
    concurrency: config.worker.concurrency,
  });
  const control = new Worker(QUEUE.control, runningControl.wrap(options.processors.control), { ...common, concurrency: 2 });
  for (const worker of [rotations, control]) {
    worker.on('failed', (job, err) => logger.warn({ jobId: job?.id, job: job?.name, err: { name: err.name, message: err.message } }, 'job failed'));
    // While Redis is away every reconnect attempt of the worker's blocking connection is an error
    // here; the shared connection logs the outage already (rate-limited, src/queue/redis-connection.ts).
    worker.on('error', (err) => {
      if (isConnectionError(err)) logger.debug({ queue: worker.name, cause: describeRedisError(err) }, 'worker connection error');
      else logger.error({ err: { name: err.name, message: err.message } }, 'worker error');
    });
  }
  return {
    rotations,
    control,
    close: async (timeoutMs) => {
      // Stops fetching at once; resolves when BullMQ is done (with Redis up, right after the jobs).
      const closing = Promise.all([rotations.close(), control.close()]);
      closing.catch(() => {});
      // A rotation may finish without Redis until its next fence, which gives up within
      // seconds when Redis does not answer (LeaseLostError); a control job (a tick, reconcile)
      // does nothing but wait for Redis then, so it is not waited for while Redis is away.
      const redisAway = (): boolean => connection.status !== 'ready';
      const [drained, controlDone] = await Promise.all([runningRotations.idleWithin(timeoutMs), runningControl.idleWithin(timeoutMs, redisAway)]);
      if (!drained) logger.warn({ timeoutMs, running: runningRotations.count }, 'rotations still running at the shutdown bound: closing anyway; they will resume elsewhere');
      if (!controlDone) logger.warn({ running: runningControl.count }, redisAway() ? 'control jobs (schedule ticks, reconcile) waiting for Redis: left, they run again elsewhere' : 'control jobs (schedule ticks, reconcile) still running at the shutdown bound: left, they run again elsewhere');
      // Without Redis BullMQ's close cannot progress: it waits for its blocking copy of the
      // connection to end, which closing the connection does (closeRedisConnection). Waiting for
      // it here would only add the bound to the shutdown.
      if (connection.status !== 'ready') {
        logger.warn('Redis is unreachable: the queue workers finish closing when the connection is closed');
      } else if ((await settleWithin(closing.then(() => true), CLOSE_BOUND_MS)) === undefined) {
        logger.warn({ boundMs: CLOSE_BOUND_MS }, 'the queue workers did not close in time (Redis unreachable?): leaving them');
      }
      return { drained };
    },
  };
}

/** How long BullMQ's close may take once no job runs here. */
const CLOSE_BOUND_MS = 2_000;

/** How often a drain looks again whether what it waits for can still end (Redis back or away). */
const GIVE_UP_CHECK_MS = 100;

/** Counts the jobs in flight through wrapped processors, and waits for none. */
class InFlight {
  count = 0;
  private idle: Array<() => void> = [];

  wrap(processor: Processor): Processor {
    return async (job, token, signal) => {
      this.count += 1;
      try {
        return await processor(job, token, signal);
      } finally {
        this.count -= 1;
        if (this.count === 0) for (const resolve of this.idle.splice(0)) resolve();
      }
    };
  }

  /** True once no job runs (at once when none does); false when `ms` pass first, or once `giveUp` holds (checked every GIVE_UP_CHECK_MS). */
  async idleWithin(ms: number, giveUp: () => boolean = () => false): Promise<boolean> {
    if (this.count === 0) return true;
    if (giveUp()) return false;
    let timer: NodeJS.Timeout | undefined;
    let check: NodeJS.Timeout | undefined;
    const idle = new Promise<boolean>((resolve) => this.idle.push(() => resolve(true)));
    const late = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
      check = setInterval(() => giveUp() && resolve(false), GIVE_UP_CHECK_MS);
    });
    try {
      return await Promise.race([idle, late]);
    } finally {
      clearTimeout(timer);
      clearInterval(check);
    }
  }
}

/** Queue depth by state, for the metrics gauge. */
export async function refreshQueueGauge(queues: Queue[], metrics: RotatorMetrics): Promise<void> {
  for (const queue of queues) {
    const counts = await queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed');
    for (const [state, count] of Object.entries(counts)) metrics.queueJobs.set({ queue: queue.name, state }, count);
  }
}

/** An error of the connection itself (refused, reset, closed, timed out), not of a command. */
function isConnectionError(error: Error): boolean {
  const code = (error as NodeJS.ErrnoException).code ?? '';
  return /^(ECONN|EPIPE|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH)/.test(code) || /Connection is closed|Socket closed unexpectedly|connect ETIMEDOUT/.test(error.message);
}
