import type { Queue } from 'bullmq';
import type { RedisClient } from './redis-client.ts';
import type { Config } from '../config/types.ts';
import type { Logger } from '../observability/logger.ts';
import type { RotatorMetrics } from '../observability/metrics.ts';
import { hasDrift, scheduleDrift, syncSchedules, type ScheduleDrift } from './schedules.ts';

/** What made the watch look: its timer, or Redis coming back after a disconnect. */
export type ScheduleCheckTrigger = 'interval' | 'reconnect';

/** How a check ended: nothing to do, re-synced, or another replica held the sync lock (it is syncing). */
export type ScheduleCheckOutcome = 'in_sync' | 'resynced' | 'busy';

export interface ScheduleWatch {
  /** One check now (one at a time: a check asked for while one runs runs right after it). */
  check: (trigger: ScheduleCheckTrigger) => Promise<ScheduleCheckOutcome>;
  stop: () => void;
}

export interface ScheduleWatchOptions {
  control: Queue;
  redis: RedisClient;
  config: Config;
  logger: Logger;
  metrics: RotatorMetrics;
  /** @defaultValue config.worker.scheduleCheckIntervalMs */
  intervalMs?: number;
}

/**
 * Self-healing job schedulers. A Redis that restarts without persistence, or a FLUSHALL, takes
 * every scheduler with it, and the running workers would go on taking jobs with nothing producing
 * them: no scheduled rotation, no reconcile, until someone restarts a pod or runs `schedules sync`.
 * This compares the schedulers with the config every `intervalMs` and at every reconnect of
 * `redis` (its `ready` event after the first), and re-syncs them under the sync lock when they
 * differ; the metric `milvus_rotator_schedule_resyncs_total` and a warn line say it happened. One
 * read of the scheduler list per check, no AWS call.
 *
 * During a rolling update with a changed schedule, old and new replicas each re-sync to their own
 * config when they see the other's; this ends with the rollout (once per interval per replica).
 */
export function startScheduleWatch(options: ScheduleWatchOptions): ScheduleWatch {
  const { control, redis, config, metrics } = options;
  const logger = options.logger.child({ component: 'schedule-watch' });
  let running: Promise<ScheduleCheckOutcome> | null = null;
  let queued: { trigger: ScheduleCheckTrigger; promise: Promise<ScheduleCheckOutcome> } | null = null;
  let stopped = false;

  const once = async (trigger: ScheduleCheckTrigger): Promise<ScheduleCheckOutcome> => {
    const drift = await scheduleDrift(control, config);
    if (!hasDrift(drift)) return 'in_sync';
    const sync = await syncSchedules(control, redis, config.redis.prefix, config);
    if (!sync) {
      logger.info({ trigger, ...driftFields(drift) }, 'job schedulers do not match the config; another replica holds the sync lock');
      return 'busy';
    }
    metrics.scheduleResyncs.inc({ trigger });
    logger.warn({ trigger, ...driftFields(drift), upserted: sync.upserted.length, removed: sync.removed }, 'job schedulers did not match the config (Redis lost them?): re-synced');
    return 'resynced';
  };

  const check = (trigger: ScheduleCheckTrigger): Promise<ScheduleCheckOutcome> => {
    if (!running) {
      running = once(trigger).finally(() => {
        running = null;
      });
      return running;
    }
    // One run at a time, at most one waiting behind it: a burst of triggers costs two checks.
    queued ??= {
      trigger,
      promise: running.catch(() => undefined).then(() => {
        const next = queued?.trigger ?? trigger;
        queued = null;
        return check(next);
      }),
    };
    return queued.promise;
  };

  const background = (trigger: ScheduleCheckTrigger): void => {
    if (stopped) return;
    check(trigger).catch((error: unknown) => logger.warn({ trigger, err: { message: error instanceof Error ? error.message : String(error) } }, 'job scheduler check failed; retried at the next one'));
  };
  const timer = setInterval(() => background('interval'), options.intervalMs ?? config.worker.scheduleCheckIntervalMs);
  timer.unref();
  // The watch starts on a connection that is ready already (after the startup sync), so every
  // `ready` it hears is a reconnect.
  const onReady = (): void => background('reconnect');
  redis.on('ready', onReady);

  return {
    check,
    stop: () => {
      stopped = true;
      clearInterval(timer);
      redis.off('ready', onReady);
    },
  };
}

function driftFields(drift: ScheduleDrift): Partial<ScheduleDrift> {
  return {
    ...(drift.missing.length > 0 && { missing: drift.missing }),
    ...(drift.changed.length > 0 && { changed: drift.changed }),
    ...(drift.extra.length > 0 && { extra: drift.extra }),
  };
}
