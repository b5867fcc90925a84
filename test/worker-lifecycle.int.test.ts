/**
 * The `worker` process's life as Kubernetes sees it, each test a real child process
 * (`node src/cli.ts worker`) against a real redis-server and the sandbox:
 * - start with Redis down: `/healthz` answers at once, `/readyz` says why it is not ready, and
 *   the worker comes up by itself when Redis does (no restart), then runs scheduled rotations;
 * - SIGTERM during a rotation: `/readyz` 503 at once, requests still accepted during the drain
 *   delay, the rotation finishes, exit 0;
 * - Redis losing its data (FLUSHALL, a restart without persistence): the job schedulers are back
 *   within one check interval, with a log line and a metric;
 * - a config error (an unreadable caFile): exit 2 at once, nothing left running.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Job, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { Config } from '../src/config/types.ts';
import { EXIT_WATCHDOG_MS } from '../src/cli/releases.ts';
import { shutdownBoundMs } from '../src/cli/worker-command.ts';
import { QUEUE } from '../src/queue/names.ts';
import { RotationQueue } from '../src/queue/rotation-queue.ts';
import { listSchedules } from '../src/queue/schedules.ts';
import { startSandbox, type Sandbox } from '../src/sandbox/sandbox.ts';
import { FAST_WORKER, makeConfig, type CredentialSpec } from './helpers/config.ts';
import { writeConfigFile } from './helpers/config-file.ts';
import { freePort, startRedisServer, type RedisServer } from './helpers/redis-server.ts';
import { runCli } from './helpers/run-cli.ts';
import { spawnWorker, type WorkerProcess } from './helpers/worker-process.ts';

const WORKER: Config['worker'] = { ...FAST_WORKER, concurrency: 2 };
const TOKEN = 'test-trigger-token-0123456789';

const processes: WorkerProcess[] = [];
const sandboxes: Sandbox[] = [];
const servers: RedisServer[] = [];
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const p of processes.splice(0)) {
    if (p.child.exitCode === null && p.child.signalCode === null) {
      p.kill('SIGKILL');
      await p.exited;
    }
  }
  for (const cleanup of cleanups.splice(0)) await cleanup().catch(() => {});
  for (const s of sandboxes.splice(0)) await s.close();
  for (const r of servers.splice(0)) await r.stop();
});

function configFor(redisUrl: string, credentials: CredentialSpec[], worker: Partial<Config['worker']> = {}): Config {
  const base = makeConfig(['west'], credentials);
  return { ...base, redis: { ...base.redis, url: redisUrl, prefix: `{life-${randomUUID().slice(0, 8)}}` }, worker: { ...WORKER, ...worker } };
}

async function sandboxFor(config: Config): Promise<Sandbox> {
  const sandbox = await startSandbox(config);
  sandboxes.push(sandbox);
  return sandbox;
}

function spawn(config: Config, sandbox: Sandbox): WorkerProcess {
  const worker = spawnWorker(writeConfigFile(config), sandbox.env);
  processes.push(worker);
  return worker;
}

/** The worker's HTTP base URL, from its "HTTP server listening" line (the config asks for port 0). */
async function httpUrl(worker: WorkerProcess, timeoutMs = 20_000): Promise<string> {
  const line = await worker.waitForLine(/"msg":"HTTP server listening"/, timeoutMs);
  return (JSON.parse(line) as { url: string }).url;
}

async function get(url: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(3_000) });
  const text = await res.text();
  return { status: res.status, body: text.startsWith('{') ? JSON.parse(text) : text };
}

async function waitFor<T>(probe: () => Promise<T | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch {
      // not yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Lines a process wrote that are not JSON objects (a raw stack trace, a console.error). */
function rawLines(worker: WorkerProcess): string[] {
  return worker.lines.filter((line) => {
    try {
      return typeof JSON.parse(line) !== 'object';
    } catch {
      return true;
    }
  });
}

async function controlQueue(redisUrl: string, prefix: string): Promise<{ control: Queue; redis: Redis }> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  redis.on('error', () => {});
  const control = new Queue(QUEUE.control, { connection: redis, prefix });
  control.on('error', () => {});
  cleanups.push(async () => {
    await control.close();
    redis.disconnect();
  });
  return { control, redis };
}

describe('worker: start with Redis down', () => {
  it('serves /healthz 200 and /readyz 503 (redis_unreachable, schedules_not_synced) within 5 s; when Redis starts, /readyz turns 200 and a scheduled rotation runs, same process', async () => {
    const port = await freePort();
    const redisUrl = `redis://127.0.0.1:${port}`;
    // Every second: the first scheduled tick after the worker syncs its schedulers rotates.
    const config = configFor(redisUrl, [{ id: 'sched', username: 'sched_user', clusters: ['west'], schedule: '* * * * * *' }]);
    const sandbox = await sandboxFor(config);
    const spawnedAt = Date.now();
    const worker = spawn(sandbox.config, sandbox);
    const url = await httpUrl(worker, 5_000);
    const health = await waitFor(async () => (await get(`${url}/healthz`)).status === 200 && Date.now(), 5_000, '/healthz 200');
    expect(health - spawnedAt).toBeLessThan(5_000);
    const notReady = await get(`${url}/readyz`);
    expect(notReady).toEqual({ status: 503, body: { status: 'not_ready', checks: { redis: false, config: true }, reasons: ['redis_unreachable', 'schedules_not_synced'] } });
    // Metrics answer too (the fleet gauges keep their last values instead of waiting for Redis).
    expect((await get(`${url}/metrics`)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 1_500)); // a few reconnect attempts

    servers.push(await startRedisServer({ port }));
    await waitFor(async () => (await get(`${url}/readyz`)).status === 200, 20_000, '/readyz 200 after Redis started');
    expect((await get(`${url}/readyz`)).body).toEqual({ status: 'ready', checks: { redis: true, config: true }, reasons: [] });
    await worker.waitForLine(/"msg":"job schedulers synced"/, 1_000);
    const rotated = JSON.parse(await worker.waitForLine(/"msg":"rotation ended".*"outcome":"rotated"|"outcome":"rotated".*"msg":"rotation ended"/, 20_000)) as { mode: string };
    expect(rotated.mode).toBe('scheduled');
    expect(worker.child.exitCode).toBeNull();
    // Redis trouble was logged as JSON lines, never as a raw stack.
    expect(worker.lines.some((l) => l.includes('ECONNREFUSED') || l.includes('connection refused'))).toBe(true);
    expect(rawLines(worker)).toEqual([]);
    // Rate-limited: one line per cause and connection (worker, HTTP producer, queue events) per
    // 30 s, not one per reconnect attempt (dozens over the seconds Redis was down).
    expect(worker.lines.filter((l) => l.includes('"msg":"redis connection error"')).length).toBeLessThanOrEqual(6);

    worker.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
  });
});

describe('worker: drain on SIGTERM', () => {
  it('/readyz 503 (shutting_down) at once, the listener accepts during drainDelayMs (a trigger is queued), the running rotation finishes, exit 0', async () => {
    const redisUrl = inject('redisUrl');
    const drainDelayMs = 2_500;
    const config = configFor(
      redisUrl,
      [
        { id: 'drain', username: 'drain_user', clusters: ['west'] },
        { id: 'other', username: 'other_user', clusters: ['west'] },
      ],
      { drainDelayMs },
    );
    const sandbox = await sandboxFor(config);
    sandbox.clusters.get('west')!.injectFault({ route: 'update_password', fault: { kind: 'latency', ms: 1_500 } });
    const worker = spawn(sandbox.config, sandbox);
    const url = await httpUrl(worker);
    await worker.waitForLine(/"msg":"worker started"/);
    const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
    const producer = new RotationQueue(redis, config.redis.prefix);
    cleanups.push(async () => {
      await producer.queue.obliterate({ force: true });
      await producer.close();
      redis.disconnect();
    });
    const { jobId } = await producer.enqueue({ credentialId: 'drain', mode: 'manual', requestedBy: 'test' });
    await worker.waitForLine(/"step":"write_ahead".*step ended/);

    const signalledAt = Date.now();
    worker.kill('SIGTERM');
    const shutting = await waitFor(async () => {
      const res = await get(`${url}/readyz`);
      return res.status === 503 ? res : undefined;
    }, 1_000, '/readyz 503 after SIGTERM');
    expect(shutting.body).toMatchObject({ status: 'not_ready', reasons: ['shutting_down'] });
    expect(Date.now() - signalledAt).toBeLessThan(1_000);

    // Still accepting while the endpoint is being removed: health, and a trigger that is queued (for
    // another credential: one behind the running rotation would be refused by rotation.minIntervalMs).
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect((await get(`${url}/healthz`)).status).toBe(200);
    const trigger = await fetch(`${url}/v1/rotations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ credential: 'other' }),
      signal: AbortSignal.timeout(3_000),
    });
    expect(Date.now() - signalledAt).toBeLessThan(drainDelayMs);
    expect(trigger.status).toBe(202);
    const queued = ((await trigger.json()) as { rotations: Array<{ jobId: string }> }).rotations[0]!.jobId;

    expect(await worker.exited).toBe(0);
    const elapsed = Date.now() - signalledAt;
    expect(elapsed).toBeGreaterThanOrEqual(drainDelayMs);
    expect(elapsed).toBeLessThan(WORKER.shutdownTimeoutMs);
    expect((await Job.fromId(producer.queue, jobId))?.returnvalue).toMatchObject({ outcome: 'rotated' });
    expect(await Job.fromId(producer.queue, queued), 'the request accepted during the drain is in the queue for another worker').toBeDefined();
    expect(worker.lines.some((l) => l.includes('"drained":true'))).toBe(true);
    // After the delay the listener is closed.
    await expect(fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) })).rejects.toThrow();
  });
});

describe('worker: SIGTERM while Redis is away', () => {
  it('exits 0 right after the drain delay: nothing waits for Redis, and nothing BullMQ started holds the process (no exit watchdog)', async () => {
    const server = await startRedisServer();
    servers.push(server);
    const drainDelayMs = 500;
    const config = configFor(server.url, [{ id: 'gone', username: 'gone_user', clusters: ['west'] }], { shutdownTimeoutMs: 3_000, drainDelayMs });
    const sandbox = await sandboxFor(config);
    const worker = spawn(sandbox.config, sandbox);
    await worker.waitForLine(/"msg":"worker started"/);
    await server.stop();
    await worker.waitForLine(/"msg":"redis connection error"/, 10_000);
    const signalledAt = Date.now();
    worker.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    const exitedAt = Date.now();
    // BullMQ's close waited for its blocking connection's `end`, which ioredis never emits for a
    // client waiting to reconnect, and kept its lock-renewal timers meanwhile: the process outlived
    // `worker stopped` until main's exit watchdog forced it, EXIT_WATCHDOG_MS later.
    expect(worker.lines.filter((l) => l.includes('did not exit'))).toEqual([]);
    const logTime = (msg: string): number => {
      const line = worker.lines.find((l) => l.includes(`"msg":"${msg}`));
      return line === undefined ? Number.NaN : Date.parse((JSON.parse(line) as { time: string }).time);
    };
    // The drain delay, then the closes at once (the child's own clock): no 2 s wait for a close that needs Redis.
    expect(logTime('worker stopped') - logTime('shutting down')).toBeLessThan(drainDelayMs + 1_200);
    expect(exitedAt - signalledAt).toBeLessThan(drainDelayMs + EXIT_WATCHDOG_MS);
    expect(exitedAt - signalledAt).toBeLessThan(shutdownBoundMs(config.worker));
    expect(worker.lines.some((l) => l.includes('"msg":"Redis is unreachable: the queue workers finish closing when the connection is closed"'))).toBe(true);
  });
});

describe('worker: a second signal', () => {
  it('exits 1 at once during the drain, without waiting out drainDelayMs', async () => {
    const config = configFor(inject('redisUrl'), [{ id: 'twice', username: 'twice_user', clusters: ['west'] }], { drainDelayMs: 30_000 });
    const sandbox = await sandboxFor(config);
    const worker = spawn(sandbox.config, sandbox);
    await worker.waitForLine(/"msg":"worker started"/);
    worker.kill('SIGTERM');
    await worker.waitForLine(/"msg":"shutting down/);
    const secondAt = Date.now();
    worker.kill('SIGTERM');
    expect(await worker.exited).toBe(1);
    expect(Date.now() - secondAt).toBeLessThan(3_000);
    expect(worker.lines.some((l) => l.includes('second signal: exiting now'))).toBe(true);
  });
});

describe('worker: self-healing job schedulers', () => {
  it('FLUSHALL under a running worker: the schedulers are back within one check interval, with a warn line and milvus_rotator_schedule_resyncs_total{trigger="interval"}', async () => {
    const server = await startRedisServer();
    servers.push(server);
    const scheduleCheckIntervalMs = 1_500;
    const config = configFor(server.url, [{ id: 'heal', username: 'heal_user', clusters: ['west'], schedule: '0 4 * * 1' }], { scheduleCheckIntervalMs });
    const sandbox = await sandboxFor(config);
    const worker = spawn(sandbox.config, sandbox);
    const url = await httpUrl(worker);
    await worker.waitForLine(/"msg":"worker started"/);
    const { control, redis } = await controlQueue(server.url, config.redis.prefix);
    const ids = async (): Promise<string[]> => (await listSchedules(control)).map((s) => s.id).sort();
    expect(await ids()).toEqual(['reconcile', 'schedule:heal']);

    await redis.flushall();
    const flushedAt = Date.now();
    expect(await ids()).toEqual([]);
    await waitFor(async () => (await ids()).length === 2, scheduleCheckIntervalMs + 3_000, 'the schedulers to be back');
    // One interval, plus the margin of a loaded machine.
    expect(Date.now() - flushedAt).toBeLessThan(scheduleCheckIntervalMs + 3_000);
    expect(await ids()).toEqual(['reconcile', 'schedule:heal']);
    const next = (await listSchedules(control)).find((s) => s.id === 'schedule:heal');
    expect(next?.pattern).toBe('0 4 * * 1');
    expect(new Date(next?.next ?? 0).getUTCDay()).toBe(1);
    const line = JSON.parse(await worker.waitForLine(/re-synced/, 2_000)) as { level: string; trigger: string; missing: string[] };
    expect(line).toMatchObject({ level: 'warn', trigger: 'interval', missing: ['schedule:heal', 'reconcile'] });
    expect(String((await get(`${url}/metrics`)).body)).toMatch(/milvus_rotator_schedule_resyncs_total\{trigger="interval"\} 1\b/);
    // In sync again: the next checks find nothing to do.
    await new Promise((resolve) => setTimeout(resolve, scheduleCheckIntervalMs * 2));
    expect(worker.lines.filter((l) => l.includes('re-synced'))).toHaveLength(1);
  });

  it('Redis restarted without persistence: the schedulers are back at the reconnect, long before the check interval', async () => {
    const server = await startRedisServer();
    servers.push(server);
    const config = configFor(server.url, [{ id: 'back', username: 'back_user', clusters: ['west'], schedule: '0 5 * * *' }], { scheduleCheckIntervalMs: 3_600_000 });
    const sandbox = await sandboxFor(config);
    const worker = spawn(sandbox.config, sandbox);
    await worker.waitForLine(/"msg":"worker started"/);
    await server.restart();
    const { control } = await controlQueue(server.url, config.redis.prefix);
    await waitFor(async () => (await listSchedules(control)).length === 2, 15_000, 'the schedulers after the restart');
    const line = JSON.parse(await worker.waitForLine(/re-synced/, 2_000)) as { trigger: string };
    expect(line.trigger).toBe('reconnect');
    expect(rawLines(worker)).toEqual([]);
  });
});

describe('worker: config errors', () => {
  it('an unreadable clusters.*.caFile exits 2 at once with the key and the cause, Redis never contacted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rotator-ca-'));
    // A port nothing listens on: had the worker opened Redis first, it would hang retrying.
    const config = configFor(`redis://127.0.0.1:${await freePort()}`, [{ id: 'ca', username: 'ca_user', clusters: ['west'] }]);
    for (const caFile of [join(dir, 'missing.pem'), dir]) {
      const withCa: Config = { ...config, clusters: { west: { name: 'west', endpoint: 'https://127.0.0.1:1', timeoutMs: 2_000, caFile } } };
      const run = await runCli(['worker', '--config', writeConfigFile(withCa)], { timeoutMs: 20_000 });
      expect(run.timedOut, run.stderr).toBe(false);
      expect(run.code, run.stderr).toBe(2);
      expect(run.stderr).toContain('clusters.west.caFile');
      expect(run.stderr).toMatch(/cannot read the CA file \((ENOENT|EISDIR)\)/);
      expect(run.stderr).not.toMatch(/redis|ECONNREFUSED/i);
      expect(run.stderr.trim().split('\n').length).toBeLessThanOrEqual(3);
    }
  });
});
