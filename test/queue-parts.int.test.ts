/**
 * The queue-layer pieces on their own, against the real Redis of the test setup:
 * - CredentialLock, the fence of every rotation: exclusive, renewed while held, lost for good when
 *   another holder took the key (found by a fence check or by the renewal), and expired when its
 *   holder stops renewing (a dead worker), so that the next rotation can take it;
 * - WriteGate, the fleet's Secrets Manager write budget: writes spaced at the emission interval
 *   across every gate on the same key (every replica), leak writes allowed a burst ahead;
 * - RotationQueue's leak escalation: a leak request landing on a waiting job raises it to leak
 *   priority and mode; on an active job it is kept as the next job, in leak mode;
 * - RotationQueue.pendingVersionOwner, verify's question: will a rotation still act on a pending version?
 * - the schedule watch's check: re-syncs only on drift, counts it, steps aside when another
 *   replica holds the sync lock, and runs one check at a time however many are asked for.
 */
import { randomUUID } from 'node:crypto';
import { Job, Queue, Worker } from 'bullmq';
import pino from 'pino';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CredentialLock, lockKey } from '../src/queue/credential-lock.ts';
import type { RotateJobData } from '../src/queue/job-data.ts';
import { PRIORITY, QUEUE, WRITE_QUOTA_SHARE } from '../src/queue/names.ts';
import { RotationQueue } from '../src/queue/rotation-queue.ts';
import { WriteGate } from '../src/queue/write-gate.ts';
import { startScheduleWatch } from '../src/queue/schedule-watch.ts';
import { listSchedules } from '../src/queue/schedules.ts';
import { METRIC, RotatorMetrics } from '../src/observability/metrics.ts';
import { makeConfig } from './helpers/config.ts';
import { LeaseLostError } from '../src/rotation/errors.ts';

let redis: Redis;
const prefix = `{parts-${randomUUID().slice(0, 8)}}`;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(() => {
  redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
});
afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

describe('CredentialLock', () => {
  const acquire = (credentialId: string, ttlMs: number, owner = 'w1') => CredentialLock.acquire(redis, { prefix, credentialId, ttlMs, owner });

  it('is exclusive: a second holder gets null until the first releases; release frees it', async () => {
    const first = await acquire('excl', 5_000);
    expect(first).not.toBeNull();
    expect(await acquire('excl', 5_000, 'w2')).toBeNull();
    await first!.assertHeld('excl');
    await first!.release();
    expect(await redis.exists(lockKey(prefix, 'excl'))).toBe(0);
    const second = await acquire('excl', 5_000, 'w2');
    expect(second?.token.startsWith('w2:')).toBe(true);
    await second!.release();
  });

  it('renews itself while held: still owned after three TTLs', async () => {
    const ttlMs = 600;
    const lock = (await acquire('renew', ttlMs))!;
    await sleep(ttlMs * 3);
    await lock.assertHeld('renew');
    expect(await redis.get(lockKey(prefix, 'renew'))).toBe(lock.token);
    expect(await redis.pttl(lockKey(prefix, 'renew'))).toBeGreaterThan(0);
    await lock.release();
  });

  it('lost to another holder: the fence check throws LeaseLostError, stays lost, and release leaves the new holder alone', async () => {
    const lock = (await acquire('lost', 10_000))!;
    await redis.set(lockKey(prefix, 'lost'), 'someone-else', 'PX', 10_000);
    await expect(lock.assertHeld('lost')).rejects.toBeInstanceOf(LeaseLostError);
    // Even if the key were set back, a holder that once lost it does not act again.
    await redis.set(lockKey(prefix, 'lost'), lock.token, 'PX', 10_000);
    await expect(lock.assertHeld('lost')).rejects.toBeInstanceOf(LeaseLostError);
    await redis.set(lockKey(prefix, 'lost'), 'someone-else', 'PX', 10_000);
    await lock.release();
    expect(await redis.get(lockKey(prefix, 'lost'))).toBe('someone-else');
  });

  it('lost found by the renewal: after a renewal meets another token, the fence fails even without a read in between', async () => {
    const ttlMs = 600; // renewal every 200 ms
    const lock = (await acquire('renewal-loss', ttlMs))!;
    await redis.set(lockKey(prefix, 'renewal-loss'), 'someone-else', 'PX', 10_000);
    await sleep(500); // at least one renewal sees the other token
    await redis.set(lockKey(prefix, 'renewal-loss'), lock.token, 'PX', 10_000);
    await expect(lock.assertHeld('renewal-loss')).rejects.toBeInstanceOf(LeaseLostError);
    await lock.release();
  });

  it('expires when its holder stops renewing (a dead worker): the next holder takes it after the TTL, not before', async () => {
    // A dead worker's lock is a key nobody renews.
    await redis.set(lockKey(prefix, 'expiry'), 'dead-worker:token', 'PX', 700);
    expect(await acquire('expiry', 5_000)).toBeNull();
    await sleep(900);
    const next = await acquire('expiry', 5_000);
    expect(next).not.toBeNull();
    await next!.release();
  });

  it('a fence check that cannot reach Redis counts as lost (LeaseLostError), it never passes', async () => {
    const own = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
    own.on('error', () => {});
    const lock = (await CredentialLock.acquire(own, { prefix, credentialId: 'unreachable', ttlMs: 5_000, owner: 'w1' }))!;
    await lock.assertHeld('unreachable');
    own.disconnect(); // its Redis is gone for this holder
    await expect(lock.assertHeld('unreachable')).rejects.toBeInstanceOf(LeaseLostError);
    await lock.release();
  });
});

describe('WriteGate', () => {
  // 1 / (writesPerSecond * share) = 100 ms between writes.
  const writesPerSecond = 10 / WRITE_QUOTA_SHARE;
  const intervalMs = 100;

  it('spaces scheduled writes at the emission interval, one slot of tolerance: 6 writes take at least 4 intervals', async () => {
    const waits: number[] = [];
    const gate = new WriteGate(redis, `${prefix}:gate-a`, writesPerSecond, async (ms) => {
      waits.push(ms);
      await sleep(ms);
    });
    const started = performance.now();
    for (let i = 0; i < 6; i++) await gate.acquire('scheduled');
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(4 * intervalMs - 10);
    expect(waits.length).toBeGreaterThanOrEqual(4);
    for (const w of waits) expect(w).toBeLessThanOrEqual(intervalMs + 1);
  });

  it('lets a leak write run up to three slots ahead: 4 writes at once on a fresh budget, the fifth waits', async () => {
    const waits: number[] = [];
    const gate = new WriteGate(redis, `${prefix}:gate-b`, writesPerSecond, async (ms) => {
      waits.push(ms);
      await sleep(ms);
    });
    for (let i = 0; i < 4; i++) await gate.acquire('leak');
    expect(waits).toEqual([]);
    await gate.acquire('leak');
    expect(waits.length).toBeGreaterThanOrEqual(1);
  });

  it('is one budget for every replica: two gates on the same key, 3 writes each at once, take at least 4 intervals together', async () => {
    const a = new WriteGate(redis, `${prefix}:gate-c`, writesPerSecond);
    const b = new WriteGate(redis, `${prefix}:gate-c`, writesPerSecond);
    const started = performance.now();
    await Promise.all([0, 1, 2].flatMap(() => [a.acquire('scheduled'), b.acquire('scheduled')]));
    expect(performance.now() - started).toBeGreaterThanOrEqual(4 * intervalMs - 10);
  });
});

describe('RotationQueue: leak escalation', () => {
  it('a leak request on a waiting scheduled job raises it to leak priority and mode (same job, the alert id recorded)', async () => {
    const rotations = new RotationQueue(redis, `${prefix}:esc-a`);
    try {
      const scheduled = await rotations.enqueue({ credentialId: 'esc', mode: 'scheduled', requestedBy: 'scheduler' });
      expect((await Job.fromId<RotateJobData>(rotations.queue, scheduled.jobId))?.priority).toBe(PRIORITY.scheduled);
      const leak = await rotations.enqueue({ credentialId: 'esc', mode: 'leak', requestedBy: 'alert', alert: { alertId: 'alert-1', source: 'test', receivedAt: Date.now() } });
      expect(leak).toMatchObject({ jobId: scheduled.jobId, deduplicated: true, mode: 'leak' });
      const job = await Job.fromId<RotateJobData>(rotations.queue, scheduled.jobId);
      expect(job?.priority).toBe(PRIORITY.leak);
      expect(job?.data).toMatchObject({ credentialId: 'esc', reason: 'leak', alertId: 'alert-1' });
      expect(await rotations.queue.count()).toBe(1);

      // A later manual request does not lower it; while the leak notice waits, it is reported as leak.
      const manual = await rotations.enqueue({ credentialId: 'esc', mode: 'manual', requestedBy: 'human' });
      expect(manual).toMatchObject({ jobId: scheduled.jobId, deduplicated: true, mode: 'leak' });
      expect((await Job.fromId<RotateJobData>(rotations.queue, scheduled.jobId))?.priority).toBe(PRIORITY.leak);
    } finally {
      await rotations.queue.obliterate({ force: true });
      await rotations.close();
    }
  });

  it('a leak request while the job is active is kept as the next job, at leak priority and in leak mode', async () => {
    const { rotations, started, release, close } = heldWorker(`${prefix}:esc-b`);
    try {
      const first = await rotations.enqueue({ credentialId: 'esc', mode: 'scheduled', requestedBy: 'scheduler' });
      await waitUntil(() => started.length === 1);
      const leak = await rotations.enqueue({ credentialId: 'esc', mode: 'leak', requestedBy: 'alert', alert: { alertId: 'alert-2', source: 'test', receivedAt: Date.now() } });
      expect(leak.deduplicated).toBe(true);
      expect(leak.jobId).not.toBe(first.jobId);
      release();
      await waitUntil(() => started.length === 2);
      expect(started[1]).toMatchObject({ credentialId: 'esc', reason: 'leak', rotationId: leak.jobId, alertId: 'alert-2' });
      expect((await Job.fromId(rotations.queue, leak.jobId))?.priority).toBe(PRIORITY.leak);
    } finally {
      await close();
    }
  });

  it('a request added while the job is active, answered once that job has already ended (it ended between the add and the state read): the reply names the next job, which answers it', async () => {
    const { rotations, started, release, close } = heldWorker(`${prefix}:esc-c`);
    try {
      const first = await rotations.enqueue({ credentialId: 'esc', mode: 'scheduled', requestedBy: 'scheduler' });
      await waitUntil(() => started.length === 1);
      // The add sees the first job active; the first job then ends before enqueue reads its state (a loaded machine's window, made certain here).
      const add = rotations.queue.add.bind(rotations.queue);
      rotations.queue.add = (async (...args: Parameters<typeof add>) => {
        const added = await add(...args);
        release();
        await waitUntil(async () => (await Job.fromId(rotations.queue, first.jobId))?.finishedOn !== undefined);
        return added;
      }) as typeof add;
      const leak = await rotations.enqueue({ credentialId: 'esc', mode: 'leak', requestedBy: 'alert', alert: { alertId: 'alert-3', source: 'test', receivedAt: Date.now() } });
      expect(leak.deduplicated).toBe(true);
      expect(leak.jobId, 'the reply must not name the job that ended without this alert').not.toBe(first.jobId);
      await waitUntil(() => started.length === 2);
      expect(started[1]).toMatchObject({ credentialId: 'esc', reason: 'leak', rotationId: leak.jobId, alertId: 'alert-3' });
    } finally {
      await close();
    }
  });
});

describe('RotationQueue.pendingVersionOwner (what verify asks)', () => {
  it('running while its job may run, ended once it completed, running again while another job of the credential is queued; unknown without a job', async () => {
    const sub = `${prefix}:owner`;
    const rotations = new RotationQueue(redis, sub);
    const connection = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
    let worker: Worker | null = null;
    try {
      const first = await rotations.enqueue({ credentialId: 'own', mode: 'manual', requestedBy: 'test' });
      expect(await rotations.pendingVersionOwner('own', first.jobId)).toBe('running'); // waiting
      worker = new Worker(QUEUE.rotations, async () => ({ outcome: 'rolled_back' }), { connection, prefix: sub, concurrency: 1 });
      await waitUntil(async () => (await rotations.queue.getJobState(first.jobId)) === 'completed');
      await worker.close();
      worker = null;
      expect(await rotations.pendingVersionOwner('own', first.jobId)).toBe('ended');
      // Another credential's job changes nothing; one of this credential adopts the version when it runs.
      await rotations.enqueue({ credentialId: 'other', mode: 'manual', requestedBy: 'test' });
      expect(await rotations.pendingVersionOwner('own', first.jobId)).toBe('ended');
      await rotations.enqueue({ credentialId: 'own', mode: 'manual', requestedBy: 'test' });
      expect(await rotations.pendingVersionOwner('own', first.jobId)).toBe('running');
      expect(await rotations.pendingVersionOwner('own', randomUUID())).toBe('unknown');
    } finally {
      await worker?.close();
      connection.disconnect();
      await rotations.queue.obliterate({ force: true });
      await rotations.close();
    }
  });
});

describe('schedule watch: one check', () => {
  it('re-syncs on drift only, counts it by trigger, steps aside while another replica holds the lock, and runs one check at a time', async () => {
    const sub = `${prefix}:watch`;
    const config = { ...makeConfig(['west'], [{ id: 'w1', username: 'w1_user', clusters: ['west'], schedule: '0 6 * * *' }]), redis: { url: inject('redisUrl'), prefix: sub, connectTimeoutMs: 10_000 } };
    const control = new Queue(QUEUE.control, { connection: redis, prefix: sub });
    const metrics = new RotatorMetrics({ defaultMetrics: false });
    const readyListeners = redis.listenerCount('ready');
    const watch = startScheduleWatch({ control, redis, config, logger: pino({ level: 'silent' }), metrics, intervalMs: 3_600_000 });
    const resyncs = async (trigger: string): Promise<number> => (await metrics.registry.getSingleMetricAsString(METRIC.scheduleResyncs)).includes(`{trigger="${trigger}"} 1`) ? 1 : 0;
    try {
      expect(redis.listenerCount('ready')).toBe(readyListeners + 1);
      expect(await watch.check('reconnect')).toBe('resynced');
      expect((await listSchedules(control)).map((s) => s.id).sort()).toEqual(['reconcile', 'schedule:w1']);
      expect(await resyncs('reconnect')).toBe(1);
      expect(await watch.check('interval')).toBe('in_sync');
      expect(await resyncs('interval')).toBe(0);

      await control.removeJobScheduler('schedule:w1');
      await redis.set(`${sub}:schedules-sync-lock`, 'another-replica', 'PX', 10_000);
      expect(await watch.check('interval')).toBe('busy');
      expect(await listSchedules(control)).toHaveLength(1);
      await redis.del(`${sub}:schedules-sync-lock`);

      // A burst: the first runs, one more waits behind it and finds everything in sync.
      const outcomes = await Promise.all(Array.from({ length: 5 }, () => watch.check('interval')));
      expect(outcomes).toEqual(['resynced', 'in_sync', 'in_sync', 'in_sync', 'in_sync']);
      expect(await resyncs('interval')).toBe(1);
    } finally {
      watch.stop();
      expect(redis.listenerCount('ready')).toBe(readyListeners);
      await control.obliterate({ force: true });
      await control.close();
    }
  });
});

/**
 * A RotationQueue under `sub` and a worker that holds its first job until `release()`, recording
 * the data of every job it starts; `close` releases, closes both and clears the queue.
 */
function heldWorker(sub: string): { rotations: RotationQueue; started: RotateJobData[]; release: () => void; close: () => Promise<void> } {
  const rotations = new RotationQueue(redis, sub);
  let release = (): void => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  const started: RotateJobData[] = [];
  const connection = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
  const worker = new Worker<RotateJobData>(
    QUEUE.rotations,
    async (job) => {
      started.push(job.data);
      if (started.length === 1) await held;
      return { credential: job.data.credentialId };
    },
    { connection, prefix: sub, concurrency: 1 },
  );
  return {
    rotations,
    started,
    release: () => release(),
    close: async () => {
      release();
      await worker.close();
      connection.disconnect();
      await rotations.queue.obliterate({ force: true });
      await rotations.close();
    },
  };
}

async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(20);
  }
}
