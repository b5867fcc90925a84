import type { JobSchedulerJson, Queue } from 'bullmq';
import { boundedMap } from '../bounded-map.ts';
import type { RedisClient } from './redis-client.ts';
import type { Config } from '../config/types.ts';
import { SCHEDULE_OFF } from '../config/schedule.ts';
import { JOB, PRIORITY, SCHEDULER } from './names.ts';
import { JOB_RETENTION } from './rotation-queue.ts';
import { SCHEDULES_SYNC_LOCK_TTL_MS, SchedulesSyncLock, SchedulesSyncLockLostError } from './schedules-sync-lock.ts';

export interface ScheduleSync {
  upserted: string[];
  removed: string[];
}

export interface ScheduleInfo {
  id: string;
  pattern: string | null;
  every: number | null;
  timezone: string | null;
  /** Unix ms of the next job, when BullMQ knows it. */
  next: number | null;
}

/**
 * Job schedulers read per BullMQ call. BullMQ's getJobSchedulers reads each scheduler's data with
 * its own Redis call, all at once: listing 10,000 in one call held about 20 MiB of pending calls
 * and replies, which put a worker of 10,000 credentials at the Deployment's heap limit.
 */
export const SCHEDULER_PAGE = 500;

/**
 * Every job scheduler, SCHEDULER_PAGE at a time, in next-run order. A scheduler that fires
 * meanwhile moves to a later page and may be read twice: it is kept once. The end is the first
 * empty page (BullMQ leaves out a scheduler whose data is gone, so a short page is no end).
 */
async function allJobSchedulers(control: Pick<Queue, 'getJobSchedulers'>): Promise<JobSchedulerJson[]> {
  const byKey = new Map<string, JobSchedulerJson>();
  for (let start = 0; ; start += SCHEDULER_PAGE) {
    const page = await control.getJobSchedulers(start, start + SCHEDULER_PAGE - 1, true);
    if (page.length === 0) return [...byKey.values()];
    for (const scheduler of page) if (!byKey.has(scheduler.key)) byKey.set(scheduler.key, scheduler);
  }
}

/** One job scheduler the config asks for: a credential's cron, or reconcile's interval. */
interface WantedScheduler {
  id: string;
  repeat: { pattern: string; tz: string } | { every: number };
  template: { name: string; data: Record<string, string>; opts: { priority: number } & typeof JOB_RETENTION };
}

/** The schedulers `config` asks for, by id. */
function wantedSchedulers(config: Config): WantedScheduler[] {
  const wanted: WantedScheduler[] = [];
  for (const credential of Object.values(config.credentials)) {
    if (credential.schedule === SCHEDULE_OFF) continue;
    wanted.push({
      id: `${SCHEDULER.credentialPrefix}${credential.id}`,
      repeat: { pattern: credential.schedule, tz: credential.timezone },
      template: { name: JOB.scheduleTick, data: { credentialId: credential.id }, opts: { priority: PRIORITY.scheduled, ...JOB_RETENTION } },
    });
  }
  wanted.push({
    id: SCHEDULER.reconcile,
    repeat: { every: config.worker.reconcileIntervalMs },
    template: { name: JOB.reconcile, data: {}, opts: { priority: PRIORITY.scheduled, ...JOB_RETENTION } },
  });
  return wanted;
}

/** How the schedulers in Redis differ from the config's; every list empty when they match. */
export interface ScheduleDrift {
  /** Asked for by the config, absent from Redis (a flushed or restarted Redis loses them all). */
  missing: string[];
  /** Present with another cron, time zone or interval. */
  changed: string[];
  /** Present in Redis, not in the config (a removed credential). */
  extra: string[];
}

export function hasDrift(drift: ScheduleDrift): boolean {
  return drift.missing.length + drift.changed.length + drift.extra.length > 0;
}

/** Compares the job schedulers in Redis with the config's (one read; nothing is written). */
export async function scheduleDrift(control: Queue, config: Config): Promise<ScheduleDrift> {
  const present = new Map((await listSchedules(control)).map((s) => [s.id, s]));
  const drift: ScheduleDrift = { missing: [], changed: [], extra: [] };
  const wanted = wantedSchedulers(config);
  for (const scheduler of wanted) {
    const found = present.get(scheduler.id);
    if (!found) drift.missing.push(scheduler.id);
    else if ('every' in scheduler.repeat ? found.every !== scheduler.repeat.every : found.pattern !== scheduler.repeat.pattern || found.timezone !== scheduler.repeat.tz) {
      drift.changed.push(scheduler.id);
    }
  }
  const wantedIds = new Set(wanted.map((s) => s.id));
  for (const id of present.keys()) if (!wantedIds.has(id)) drift.extra.push(id);
  return drift;
}

/** What the sync needs of the control queue (a BullMQ Queue; tests wrap one). */
export type SchedulerQueue = Pick<Queue, 'upsertJobScheduler' | 'getJobSchedulers' | 'removeJobScheduler'>;

export interface SyncSchedulesOptions {
  /** The sync lock's TTL, renewed every third of it while the sync runs. @defaultValue 60,000 (SCHEDULES_SYNC_LOCK_TTL_MS) */
  lockTtlMs?: number;
  /** Upserts (and removals) under way at once. @defaultValue 16 */
  concurrency?: number;
}

export const SYNC_SCHEDULES_DEFAULTS = {
  lockTtlMs: SCHEDULES_SYNC_LOCK_TTL_MS,
  // Each upsert is one round trip and one ~0.1 ms script: 16 in flight hide the round trips
  // without holding Redis's one thread for long stretches.
  concurrency: 16,
} as const satisfies Required<SyncSchedulesOptions>;

/**
 * Makes the job schedulers match the config: one `schedule:<credential>` per scheduled
 * credential (cron + time zone), one `reconcile`, and none for credentials no longer configured.
 * Upserts are idempotent by id, so syncing twice is syncing once; schedulers are never removed
 * and re-added (BullMQ #3063). Returns null when another process holds the sync lock.
 *
 * Runs under the sync lock (src/queue/schedules-sync-lock.ts), renewed while it runs: concurrent
 * upserts from several replicas dropped schedulers (BullMQ #3085, #3381). Within one sync the
 * upserts run `concurrency` at a time: each is one atomic script on its own scheduler's keys, so
 * distinct ids do not interfere (50,000 credentials: seconds instead of a round trip each in turn).
 * No upsert starts once a renewal found the lock lost, and every removal is fenced (the lock proven
 * held just before it): a sync that lost its lock throws SchedulesSyncLockLostError and removes
 * nothing more. The result is returned only if the lock was still held after the last write.
 */
export async function syncSchedules(control: SchedulerQueue, redis: RedisClient, prefix: string, config: Config, options: SyncSchedulesOptions = {}): Promise<ScheduleSync | null> {
  const { lockTtlMs, concurrency } = { ...SYNC_SCHEDULES_DEFAULTS, ...options };
  const lock = await SchedulesSyncLock.acquire(redis, prefix, lockTtlMs);
  if (!lock) return null;
  try {
    const wanted = wantedSchedulers(config);
    await boundedMap(wanted, concurrency, async (scheduler) => {
      if (!lock.held) throw new SchedulesSyncLockLostError();
      await control.upsertJobScheduler(scheduler.id, scheduler.repeat, scheduler.template);
    });
    const upserted = wanted.map((s) => s.id);
    const wantedIds = new Set(upserted);
    const unwanted = (await allJobSchedulers(control)).map((s) => s.key).filter((id) => !wantedIds.has(id));
    await boundedMap(unwanted, concurrency, async (id) => {
      await lock.assertHeld();
      await control.removeJobScheduler(id);
    });
    // The upserts since the last renewal, and a sync with nothing to remove, are proven here.
    await lock.assertHeld();
    return { upserted, removed: unwanted };
  } finally {
    await lock.release();
  }
}

export async function listSchedules(control: Queue): Promise<ScheduleInfo[]> {
  const schedulers = await allJobSchedulers(control);
  return schedulers.map((s) => ({
    id: s.key,
    pattern: s.pattern ?? null,
    every: s.every === undefined || s.every === null ? null : Number(s.every),
    timezone: s.tz ?? null,
    next: s.next ?? null,
  }));
}
