/**
 * Redis as production runs it, part 3: Sentinel (`redis.mode: sentinel`). A primary, a replica and
 * three sentinels started by the test. The primary is killed during a stream of rotations:
 *
 * 1. with the replica in sync: the worker follows the failover (no restart) and finishes every
 *    rotation;
 * 2. with the replica deliberately behind (its replication stream cut, so writes the primary
 *    acknowledged never reach it): the failover loses them (jobs, job states, credential locks),
 *    and still every credential ends consistent (docs/design.md section 5 invariants against the
 *    simulators' change logs) and no credential is rotated twice at once. Secrets Manager's
 *    AWSPENDING, not Redis, is the write-ahead record.
 */
import { Job } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import type { RedisClient } from '../src/queue/redis-client.ts';
import { redisTarget } from '../src/queue/redis-client.ts';
import { REPLICATION, awaitReplication } from '../src/queue/replication.ts';
import { RotationQueue } from '../src/queue/rotation-queue.ts';
import { watchStoredPasswordInvariant } from './helpers/invariants.ts';
import { startSentinelGroup, type SentinelGroup } from './helpers/redis-sentinel.ts';
import { nonLinearHistories, startShapeHarness, watchOverlappingRotations, type ShapeHarness } from './helpers/redis-shape-harness.ts';

const CREDENTIALS = ['a', 'b', 'c', 'd'].map((id) => ({ id, username: `user_${id}`, clusters: ['west', 'east'] }));

let group: SentinelGroup | null = null;
let h: ShapeHarness | null = null;
let producer: { queue: RotationQueue; connection: RedisClient } | null = null;
afterEach(async () => {
  await producer?.queue.close().catch(() => {});
  producer?.connection.disconnect();
  producer = null;
  await h?.close();
  h = null;
  await group?.stop();
  group = null;
});

/** When each credential's last rotation request was accepted (unix ms). */
const lastRequestAt = new Map<string, number>();
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function setUp(rotation: { pendingLeaseMs?: number } = {}): Promise<{ group: SentinelGroup; h: ShapeHarness; queue: RotationQueue }> {
  group = await startSentinelGroup();
  // In sentinel mode only the URL's scheme, user, password and database are used; the host is the sentinels' answer.
  h = await startShapeHarness({ mode: 'sentinel', url: 'redis://sentinel-named-primary:6379/0', sentinels: group.sentinels, sentinelName: group.name }, CREDENTIALS, ['west', 'east'], {}, rotation);
  for (const sim of h.sandbox.clusters.values()) sim.setLatency(15);
  const connection = redisTarget(h.config.redis).connect({ maxRetriesPerRequest: null });
  connection.on('error', () => {});
  producer = { queue: new RotationQueue(connection, h.config.redis.prefix), connection };
  // Its connection's errors during the failover are expected; without a listener BullMQ prints each one.
  producer.queue.queue.on('error', () => {});
  return { group, h, queue: producer.queue };
}

/**
 * Enqueues a manual rotation of every credential, retrying through a failover (the producer's
 * Redis may be switching primaries). Returns when each was accepted. A request absorbed by a job
 * queued behind an active one may be replaced by a later request (its id then never runs):
 * what must hold is that every credential's AWSCURRENT moves after its last request.
 */
async function enqueueAll(queue: RotationQueue, ids: Set<string>): Promise<void> {
  for (const credential of CREDENTIALS) {
    for (let attempt = 0; ; attempt++) {
      try {
        ids.add((await queue.enqueue({ credentialId: credential.id, mode: 'manual', requestedBy: 'test' })).jobId);
        lastRequestAt.set(credential.id, Date.now());
        break;
      } catch (error) {
        if (attempt > 50) throw error;
        await sleep(200);
      }
    }
  }
}

async function idle(queue: RotationQueue, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const counts = await queue.queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed');
    if (Object.values(counts).every((n) => n === 0)) return;
    if (Date.now() > deadline) throw new Error(`queue not idle after ${timeoutMs} ms: ${JSON.stringify(counts)}`);
    await sleep(200);
  }
}

describe('Redis Sentinel: the primary is killed during a stream of rotations', () => {
  it('replica in sync: the worker follows the failover without a restart and finishes every rotation', async () => {
    const { group, h, queue } = await setUp();
    const overlaps = watchOverlappingRotations(h);
    const invariants = Object.values(h.config.credentials).map((c) => watchStoredPasswordInvariant(h.sandbox, c));
    const worker = await h.startWorker();
    // The writes that must survive a failover (lock, leak notice) wait for this replica.
    await producer!.connection.set(`${h.config.redis.prefix}:probe`, '1');
    expect(await awaitReplication(producer!.connection)).toBe(REPLICATION.replicated);
    const jobIds = new Set<string>();
    for (let round = 0; round < 6; round++) {
      await enqueueAll(queue, jobIds);
      if (round === 2) await group.killPrimaryAndAwaitFailover();
      await sleep(300);
    }
    await idle(queue, 45_000);

    // Every job that ran finished rotated (none failed); every credential rotated after its last request.
    const jobs = (await Promise.all([...jobIds].map(async (id) => Job.fromId(queue.queue, id)))).filter((job) => job !== undefined);
    const states = await Promise.all(jobs.map(async (job) => `${await job.getState()} ${(job.returnvalue as { outcome?: string } | null)?.outcome ?? job.failedReason}`));
    expect(states.length).toBeGreaterThanOrEqual(CREDENTIALS.length * 2);
    expect(states).toEqual(jobs.map(() => 'completed rotated'));
    for (const credential of Object.values(h.config.credentials)) expect(overlaps.lastPromotedAt(credential.secretId), credential.id).toBeGreaterThan(lastRequestAt.get(credential.id) ?? Infinity);
    expect(await group.masterPort()).toBe(group.replicaPort);
    expect(worker.child.exitCode).toBeNull();
    expect(overlaps.overlaps).toEqual([]);
    expect(nonLinearHistories(h)).toEqual([]);
    expect(invariants.flatMap((w) => w.violations)).toEqual([]);
    expect(h.endProblems()).toEqual([]);
  });

  it('replica behind (acknowledged writes lost): every credential ends consistent, nothing rotates twice at once', async () => {
    const { group, h, queue } = await setUp({ pendingLeaseMs: 3_000 });
    const overlaps = watchOverlappingRotations(h);
    const invariants = Object.values(h.config.credentials).map((c) => watchStoredPasswordInvariant(h.sandbox, c));
    await h.startWorker();
    const jobIds = new Set<string>();
    await enqueueAll(queue, jobIds);
    await sleep(400);
    // From here the replica hears nothing: every job added, started, finished, every lock taken, is lost at the failover.
    group.lagReplica();
    await producer!.connection.set(`${h.config.redis.prefix}:probe`, '1');
    // Bounded: a replica that does not confirm costs 100 ms, not availability.
    const started = Date.now();
    expect(await awaitReplication(producer!.connection)).toBe(REPLICATION.notReplicated);
    expect(Date.now() - started).toBeLessThan(1_000);
    for (let round = 0; round < 3; round++) {
      await enqueueAll(queue, jobIds);
      await sleep(400);
    }
    const putsBeforeFailover = overlaps.puts();
    await group.killPrimaryAndAwaitFailover();
    expect(group.droppedBytes()).toBeGreaterThan(0);
    await idle(queue, 45_000);

    // What Redis forgot, Secrets Manager did not: a pending version of a lost job is stale after
    // pendingLeaseMs, and the next rotation of that credential adopts and finishes it.
    await sleep(3_500);
    const finalIds = new Set<string>();
    await enqueueAll(queue, finalIds);
    await idle(queue, 45_000);
    const finals = await Promise.all([...finalIds].map(async (id) => (await Job.fromId(queue.queue, id))?.returnvalue as { outcome?: string } | undefined));
    expect(finals.map((o) => o?.outcome)).toEqual([...finalIds].map(() => 'rotated'));
    for (const credential of Object.values(h.config.credentials)) expect(overlaps.lastPromotedAt(credential.secretId), credential.id).toBeGreaterThan(lastRequestAt.get(credential.id) ?? Infinity);

    expect(putsBeforeFailover).toBeGreaterThan(0);
    expect(overlaps.overlaps).toEqual([]);
    expect(nonLinearHistories(h)).toEqual([]);
    expect(invariants.flatMap((w) => w.violations)).toEqual([]);
    expect(h.endProblems()).toEqual([]);
  });
});
