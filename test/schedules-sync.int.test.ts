import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { defaultRepeatStrategy, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { ERROR_CODE } from '../src/error-codes.ts';
import { QUEUE } from '../src/queue/names.ts';
import { rememberedCronStrategy } from '../src/queue/remembered-cron.ts';
import { listSchedules, syncSchedules, type SchedulerQueue } from '../src/queue/schedules.ts';
import { SCHEDULES_SYNC_LOCK_TTL_MS, schedulesSyncLockKey } from '../src/queue/schedules-sync-lock.ts';
import { makeConfig, type SingleUserConfig } from './helpers/config.ts';
import { waitFor } from './helpers/wait-for.ts';

/**
 * The schedule sync against a real Redis: its lock is kept for as long as the sync runs (renewed,
 * token-checked), a sync that loses it stops and removes nothing, and the upserts run a bounded
 * number at a time. The queue is the real BullMQ queue, wrapped where a test needs a slow upsert
 * or a hook between the phases.
 */

let redis: Redis;
let control: Queue;
let prefix: string;

beforeEach(() => {
  prefix = `{test-sync-${randomUUID().slice(0, 8)}}`;
  redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
  // As the worker and `schedules sync` build it.
  control = new Queue(QUEUE.control, { connection: redis, prefix, settings: { repeatStrategy: rememberedCronStrategy() } });
});

afterEach(async () => {
  await control.obliterate({ force: true });
  await redis.del(schedulesSyncLockKey(prefix));
  await control.close();
  redis.disconnect();
});

function configWith(ids: string[]): SingleUserConfig {
  const base = makeConfig(['west'], ids.map((id) => ({ id, username: `user_${id}`, clusters: ['west'] })));
  return { ...base, redis: { ...base.redis, url: inject('redisUrl'), prefix } };
}

const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => `c${i}`);

/** The control queue with hooks: each upsert waits `upsertDelayMs` first; `beforeList` runs before the scheduler listing. */
function wrapped(options: { upsertDelayMs?: number; beforeList?: () => Promise<void> } = {}): SchedulerQueue & { upserts: number; removals: number; peak: number } {
  let inFlight = 0;
  const queue = {
    upserts: 0,
    removals: 0,
    peak: 0,
    upsertJobScheduler: async (...args: Parameters<Queue['upsertJobScheduler']>) => {
      inFlight++;
      queue.peak = Math.max(queue.peak, inFlight);
      try {
        if (options.upsertDelayMs) await sleep(options.upsertDelayMs);
        const job = await control.upsertJobScheduler(...args);
        queue.upserts++;
        return job;
      } finally {
        inFlight--;
      }
    },
    getJobSchedulers: async (...args: Parameters<Queue['getJobSchedulers']>) => {
      await options.beforeList?.();
      return control.getJobSchedulers(...args);
    },
    removeJobScheduler: async (id: string) => {
      queue.removals++;
      return control.removeJobScheduler(id);
    },
  };
  return queue;
}

describe('schedules sync: the lock', () => {
  it('keeps its lock for a sync that outlasts its TTL three times over, then releases it', async () => {
    // A TTL of 3 s (renewed every second): a loaded CI machine may stall this process for most of a second.
    const ttlMs = 3_000;
    const config = configWith(ids(8));
    const queue = wrapped({ upsertDelayMs: 1_000 });
    const began = Date.now();
    // 9 upserts one at a time, 1 s each: about 3 TTLs.
    const sync = syncSchedules(queue, redis, prefix, config, { lockTtlMs: ttlMs, concurrency: 1 });
    await sleep(2.5 * ttlMs);
    // Without renewal the key would be gone by now, and a second sync would get the lock.
    expect(await redis.pttl(schedulesSyncLockKey(prefix))).toBeGreaterThan(0);
    expect(await syncSchedules(control, redis, prefix, config, { lockTtlMs: ttlMs })).toBeNull();
    const result = await sync;
    expect(Date.now() - began).toBeGreaterThan(3 * ttlMs);
    expect(result?.upserted).toHaveLength(9);
    expect(await redis.exists(schedulesSyncLockKey(prefix))).toBe(0);
    expect((await listSchedules(control)).map((s) => s.id).sort()).toEqual([...ids(8).map((id) => `schedule:${id}`), 'reconcile'].sort());
  });

  it('takes a 60 s lock by default', async () => {
    let pttl = 0;
    const queue = wrapped();
    const upsert = queue.upsertJobScheduler;
    queue.upsertJobScheduler = async (...args) => {
      pttl = await redis.pttl(schedulesSyncLockKey(prefix));
      return upsert(...args);
    };
    await syncSchedules(queue, redis, prefix, configWith(ids(1)));
    expect(pttl).toBeGreaterThan(SCHEDULES_SYNC_LOCK_TTL_MS - 10_000);
    expect(pttl).toBeLessThanOrEqual(SCHEDULES_SYNC_LOCK_TTL_MS);
  });

  it('stops upserting when its lock expired under it, and removes nothing', async () => {
    const ttlMs = 1_500;
    await syncSchedules(control, redis, prefix, configWith(['a', 'gone']));
    const queue = wrapped({ upsertDelayMs: 300 });
    const sync = syncSchedules(queue, redis, prefix, configWith(ids(20)), { lockTtlMs: ttlMs, concurrency: 1 });
    sync.catch(() => {});
    await waitFor(() => queue.upserts >= 2, 10_000, 'two upserts');
    // The lock expires (as after a long stall of this process): the next renewal finds it gone.
    await redis.del(schedulesSyncLockKey(prefix));
    await expect(sync).rejects.toMatchObject({ name: 'SchedulesSyncLockLostError', code: ERROR_CODE.schedulesSyncLockLost });
    // A renewal runs every TTL/3 (500 ms): at most two more upserts started before it noticed.
    expect(queue.upserts).toBeLessThan(6);
    expect(queue.removals).toBe(0);
    expect((await listSchedules(control)).map((s) => s.id)).toContain('schedule:gone');
  });

  it('removes nothing once another process took the lock, and leaves that holder its lock', async () => {
    await syncSchedules(control, redis, prefix, configWith(['a', 'gone']));
    const queue = wrapped({
      // Between the upserts and the removals: the lock expired and another sync took it.
      beforeList: async () => {
        await redis.set(schedulesSyncLockKey(prefix), 'another-process', 'PX', 60_000);
      },
    });
    await expect(syncSchedules(queue, redis, prefix, configWith(['a']))).rejects.toMatchObject({ code: ERROR_CODE.schedulesSyncLockLost });
    expect(queue.removals).toBe(0);
    expect((await listSchedules(control)).map((s) => s.id)).toContain('schedule:gone');
    expect(await redis.get(schedulesSyncLockKey(prefix))).toBe('another-process');
  });

  it('reports a lock lost after the last upsert even with nothing to remove', async () => {
    const queue = wrapped({ beforeList: async () => void (await redis.del(schedulesSyncLockKey(prefix))) });
    await expect(syncSchedules(queue, redis, prefix, configWith(['a']))).rejects.toMatchObject({ code: ERROR_CODE.schedulesSyncLockLost });
  });
});

describe('schedules sync: bounded concurrency', () => {
  it('runs at most `concurrency` upserts at once and leaves every scheduler right', async () => {
    const config = configWith(ids(200));
    const paris = { ...config, credentials: { ...config.credentials, c7: { ...config.credentials.c7!, schedule: '15 1 * * *', timezone: 'Europe/Paris' } } };
    const queue = wrapped({ upsertDelayMs: 2 });
    const nextRuns = (pattern: string, tz: string): (number | undefined)[] => [defaultRepeatStrategy(Date.now(), { pattern, tz })];
    const expectedNext = { paris: nextRuns('15 1 * * *', 'Europe/Paris'), utc: nextRuns('0 3 * * 0', 'UTC') };
    const result = await syncSchedules(queue, redis, prefix, paris, { concurrency: 8 });
    // BullMQ's own answer before and after the sync (a run time could fall in between).
    expectedNext.paris.push(...nextRuns('15 1 * * *', 'Europe/Paris'));
    expectedNext.utc.push(...nextRuns('0 3 * * 0', 'UTC'));
    expect(queue.peak).toBe(8);
    expect(result?.upserted).toEqual([...ids(200).map((id) => `schedule:${id}`), 'reconcile']);
    const listed = await listSchedules(control);
    expect(listed).toHaveLength(201);
    const byId = new Map(listed.map((s) => [s.id, s]));
    expect(byId.get('schedule:c7')).toMatchObject({ pattern: '15 1 * * *', timezone: 'Europe/Paris' });
    expect(byId.get('schedule:c8')).toMatchObject({ pattern: '0 3 * * 0', timezone: 'UTC' });
    expect(expectedNext.paris).toContain(byId.get('schedule:c7')?.next);
    for (const id of ids(200).filter((id) => id !== 'c7')) expect(expectedNext.utc).toContain(byId.get(`schedule:${id}`)?.next);
    expect(byId.get('reconcile')).toMatchObject({ every: config.worker.reconcileIntervalMs });
    // One next tick per credential scheduler, none lost or doubled.
    expect((await control.getDelayed()).filter((j) => j.name === 'schedule-tick')).toHaveLength(200);
  });

  it('removes the schedulers of many removed credentials, a bounded number at a time', async () => {
    await syncSchedules(control, redis, prefix, configWith(ids(60)));
    const result = await syncSchedules(control, redis, prefix, configWith(ids(5)), { concurrency: 4 });
    expect(result?.removed.sort()).toEqual(ids(60).slice(5).map((id) => `schedule:${id}`).sort());
    expect((await listSchedules(control)).map((s) => s.id).sort()).toEqual([...ids(5).map((id) => `schedule:${id}`), 'reconcile'].sort());
  });
});
