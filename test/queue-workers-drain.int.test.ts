/**
 * The queue workers' drain (`startQueueWorkers(...).close`), against a real redis-server started
 * here: running rotations are waited for, up to the bound, whether Redis answers or not (a
 * rotation makes progress without Redis until its next fence); a control job (a schedule tick,
 * reconcile) is waited for while Redis answers, and left at once while Redis is away, since all it
 * can do then is wait for Redis. (A worker process stopped with Redis away waited out the whole
 * shutdownTimeoutMs when reconcile's first pass happened to be running: seen in CI.)
 */
import { Writable } from 'node:stream';
import { Queue } from 'bullmq';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { REDIS_MODE, type Config } from '../src/config/types.ts';
import { QUEUE } from '../src/queue/names.ts';
import { closeRedisConnection, createRedisConnection, waitForRedis } from '../src/queue/redis-connection.ts';
import { startQueueWorkers, type Processor } from '../src/queue/workers.ts';
import { makeConfig, FAST_WORKER } from './helpers/config.ts';
import { startRedisServer, type RedisServer } from './helpers/redis-server.ts';
import { waitFor } from './helpers/wait-for.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

interface Running {
  server: RedisServer;
  lines: string[];
  close: (timeoutMs: number) => Promise<{ drained: boolean }>;
  started: { rotations: number; control: number };
}

/** Queue workers whose processors are the given ones, with one job queued on each queue and both started. */
async function runningWorkers(processors: { rotate: Processor; control: Processor }): Promise<Running> {
  const server = await startRedisServer();
  cleanups.push(() => server.stop());
  const base = makeConfig(['west'], [{ id: 'app', username: 'app_user', clusters: ['west'] }]);
  const config: Config = { ...base, redis: { url: server.url, prefix: '{drain}', connectTimeoutMs: 5_000, mode: REDIS_MODE.standalone }, worker: FAST_WORKER };
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString()), done()) }));
  const connection = createRedisConnection(config.redis, 'worker', { logger });
  cleanups.push(() => closeRedisConnection(connection));
  await waitForRedis(connection, config.redis);
  const started = { rotations: 0, control: 0 };
  const workers = startQueueWorkers({
    config,
    connection,
    logger,
    processors: {
      rotate: (...args) => ((started.rotations += 1), processors.rotate(...args)),
      control: (...args) => ((started.control += 1), processors.control(...args)),
    },
  });
  for (const name of [QUEUE.rotations, QUEUE.control]) {
    const queue = new Queue(name, { connection, prefix: config.redis.prefix });
    await queue.add('job', {});
    await queue.close();
  }
  await waitFor(() => started.rotations === 1 && started.control === 1, 10_000, 'both jobs to start');
  return { server, lines, close: (timeoutMs) => workers.close(timeoutMs), started };
}

const never = (): Promise<unknown> => new Promise(() => {});
const after = (ms: number) => (): Promise<unknown> => new Promise((resolve) => setTimeout(resolve, ms));

describe('queue workers: the drain', () => {
  it('with Redis away: waits for the running rotation, not for the control job that only waits for Redis', async () => {
    const w = await runningWorkers({ rotate: after(600), control: never });
    await w.server.stop();
    const began = Date.now();
    const { drained } = await w.close(10_000);
    const tookMs = Date.now() - began;
    expect(drained).toBe(true);
    // The rotation's 600 ms, and not the 10 s bound that a control job waiting for Redis used to take.
    expect(tookMs).toBeLessThan(5_000);
    expect(w.lines.some((l) => l.includes('control jobs (schedule ticks, reconcile) waiting for Redis: left'))).toBe(true);
  });

  it('with Redis away and only a control job running: the drain ends at once', async () => {
    const w = await runningWorkers({ rotate: async () => {}, control: never });
    await w.server.stop();
    const began = Date.now();
    await w.close(10_000);
    expect(Date.now() - began).toBeLessThan(5_000);
  });

  it('with Redis answering: waits for the control job too, and says nothing was left', async () => {
    const w = await runningWorkers({ rotate: async () => {}, control: after(600) });
    const began = Date.now();
    const { drained } = await w.close(10_000);
    expect(drained).toBe(true);
    expect(Date.now() - began).toBeGreaterThanOrEqual(400);
    expect(w.lines.filter((l) => l.includes('control jobs'))).toEqual([]);
  });

  it('with Redis answering, a control job that outlives the bound is left at the bound', async () => {
    const w = await runningWorkers({ rotate: async () => {}, control: never });
    const { drained } = await w.close(500);
    expect(drained).toBe(true);
    expect(w.lines.some((l) => l.includes('control jobs (schedule ticks, reconcile) still running at the shutdown bound'))).toBe(true);
  });
});
