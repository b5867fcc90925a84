import { randomUUID } from 'node:crypto';
import type { JobSchedulerJson, Queue } from 'bullmq';
import type { RedisClient } from './redis-client.ts';
import type { Config } from '../config/types.ts';
import { SCHEDULE_OFF } from '../config/schedule.ts';
import { JOB, PRIORITY, SCHEDULER } from './names.ts';
import { JOB_RETENTION } from './rotation-queue.ts';

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

const SYNC_LOCK_TTL_MS = 60_000;

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
async function allJobSchedulers(control: Queue): Promise<JobSchedulerJson[]> {
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

/**
 * Makes the job schedulers match the config: one `schedule:<credential>` per scheduled
 * credential (cron + time zone), one `reconcile`, and none for credentials no longer configured.
 * Upserts are idempotent by id, so syncing twice is syncing once; schedulers are never removed
 * and re-added (BullMQ #3063). Runs under a Redis lock: concurrent upserts from several replicas
 * dropped schedulers (BullMQ #3085, #3381). Returns null when another process holds the lock.
 */
export async function syncSchedules(control: Queue, redis: RedisClient, prefix: string, config: Config): Promise<ScheduleSync | null> {
  const lockKey = `${prefix}:schedules-sync-lock`;
  const token = randomUUID();
  if ((await redis.set(lockKey, token, 'PX', SYNC_LOCK_TTL_MS, 'NX')) !== 'OK') return null;
  try {
    const wanted = wantedSchedulers(config);
    const upserted: string[] = [];
    for (const scheduler of wanted) {
      await control.upsertJobScheduler(scheduler.id, scheduler.repeat, scheduler.template);
      upserted.push(scheduler.id);
    }
    const wantedIds = new Set(upserted);
    const removed: string[] = [];
    for (const scheduler of await allJobSchedulers(control)) {
      if (!wantedIds.has(scheduler.key)) {
        await control.removeJobScheduler(scheduler.key);
        removed.push(scheduler.key);
      }
    }
    return { upserted, removed };
  } finally {
    await redis.eval(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`, 1, lockKey, token);
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
